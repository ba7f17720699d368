//! `orch-sandbox`: starts one flow in its own mount, PID (and user)
//! namespaces, exactly as `orch __sandbox` does, from a binary small enough
//! to start in a fraction of the time the whole `orch` binary takes. The
//! worker uses it when it sits beside the worker's own binary.

fn main() {
    orch_worker::sandbox::main(std::env::args_os().skip(1))
}
