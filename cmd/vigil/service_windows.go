package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"

	"golang.org/x/sys/windows/svc"

	"github.com/vigilsec/vigil/internal/config"
)

// serviceName is the name to install the service under:
//
//	sc.exe create Vigil binPath= "\"C:\Program Files\Vigil\vigil.exe\" run" start= auto
const serviceName = "Vigil"

// runAsDaemon runs the daemon as a Windows service when the service
// control manager started it (stopped by Stop or Shutdown), else until
// Ctrl-C.
func runAsDaemon(cfg config.Config, log *slog.Logger) error {
	if isService, err := svc.IsWindowsService(); err != nil || !isService {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		return runDaemon(ctx, cfg, log)
	}
	s := &service{cfg: cfg, log: log}
	if err := svc.Run(serviceName, s); err != nil {
		return err
	}
	return s.err
}

type service struct {
	cfg config.Config
	log *slog.Logger
	err error
}

func (s *service) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, s.cfg, s.log) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case s.err = <-done:
			status <- svc.Status{State: svc.StopPending}
			if s.err != nil {
				s.log.Error("vigil stopped", "err", s.err)
				return false, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel() // runDaemon seals the chain and returns through done
			}
		}
	}
}
