// Package sensor loads Vigil's eBPF programs, keeps the in-kernel scope of
// tracked processes, reads the ring buffer and decodes its records into
// [Event] values. It also seeds state from /proc so processes that existed
// before the sensor started are known.
//
// Contract:
//   - [New] probes the kernel first and fails with a [*FeatureError] that
//     names what is missing (privileges, BTF, ring buffer, tp_btf) instead
//     of a verifier dump.
//   - The tracepoint (tp_btf) programs record everything on every kernel;
//     where the kernel runs BPF LSM programs, [New] adds the LSM hooks
//     ([LSMMode]) and says which path it took ([Sensor.Path]). Both paths
//     give the same records for the same actions.
//   - [Sensor.Run] delivers every record the kernel produced, in ring-buffer
//     order, to one handler on one goroutine. When the context is cancelled
//     it drains what is already in the buffer, reports loss one last time
//     and returns.
//   - Loss is never silent: the kernel's per-CPU drop counters and user-space
//     decode failures are delivered as [KindLoss] events.
//   - Events reuse memory: an *Event passed to the handler is valid only
//     until the handler returns.
package sensor
