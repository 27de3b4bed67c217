package sensor

// The BPF objects and their Go bindings are generated and committed, so
// `go build` needs no clang. Regenerate with `make generate` (clang-19).
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -tags linux -go-package sensor -type event_header -type fork_event -type exec_event -type exit_event -type tree -type agent_name -type agent_file -type event_type -type drop_cause -type event_flag -type env_limit -type file_event -type file_op -type file_flag -type write_key -type write_agg -type net_event -type net_op -type net_flag -type net_addr -type send_agg vigil ../bpf/vigil.bpf.c -- -O2 -g -Wall -Werror -I../bpf/include -I../bpf
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -tags linux -go-package sensor vigilLsm ../bpf/vigil_lsm.bpf.c -- -O2 -g -Wall -Werror -I../bpf/include -I../bpf
