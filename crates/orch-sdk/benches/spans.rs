//! What a task attempt's span costs the SDK (issue 23), in process.
//!
//! Runs a flow of `BENCH_TASKS` trivial tasks in sequence (and one of 0
//! tasks) standalone in a child process, with traces off (no variable set)
//! and on (exporting OTLP/HTTP to a loopback collector in this process, which
//! decodes and counts the spans), alternating, `BENCH_PASSES` times. Each
//! child reports its own CPU time (user + system of all its threads, the
//! export thread included, after the final flush) and wall time; the
//! per-task figures are (N tasks - 0 tasks) / N. Nothing is timed against a
//! threshold: the figures go to docs/benchmarks.md.
//!
//! ```sh
//! CARGO_INCREMENTAL=0 cargo bench -j2 -p orch-sdk --bench spans
//! BENCH_TASKS=20000 BENCH_PASSES=5 cargo bench -p orch-sdk --bench spans
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use orch_sdk::{App, FlowContext};
use prost::Message;
use serde_json::{Map, Value};

/// The run span the tasks' spans are children of, as the worker passes it.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(args[2].parse().expect("a task count"));
        return;
    }
    let tasks = env_number("BENCH_TASKS", 20_000);
    let passes = env_number("BENCH_PASSES", 3);
    let spans = Arc::new(AtomicU64::new(0));
    let endpoint = collector(spans.clone());
    let per_task = |traces: bool, label: &str| {
        let before = spans.load(Ordering::SeqCst);
        let (cpu_0, wall_0) = run_child(0, traces.then_some(endpoint.as_str()));
        let (cpu_n, wall_n) = run_child(tasks, traces.then_some(endpoint.as_str()));
        let received = spans.load(Ordering::SeqCst) - before;
        let cpu = (cpu_n - cpu_0) / tasks as f64;
        let wall = (wall_n - wall_0) / tasks as f64;
        println!(
            "traces {label}: {cpu:.2} µs CPU/task, {wall:.2} µs wall/task \
             (0 tasks: {cpu_0:.0} µs CPU, {wall_0:.0} µs wall; spans received {received})"
        );
        (cpu, wall)
    };
    let mut figures = Vec::new();
    for _ in 0..passes {
        let off = per_task(false, "off");
        let on = per_task(true, "on ");
        figures.push((off, on));
    }
    let mean = |pick: fn(&(CpuWall, CpuWall)) -> f64| {
        figures.iter().map(pick).sum::<f64>() / figures.len() as f64
    };
    let (cpu_off, cpu_on) = (mean(|f| f.0.0), mean(|f| f.1.0));
    let (wall_off, wall_on) = (mean(|f| f.0.1), mean(|f| f.1.1));
    println!(
        "mean of {passes} passes, {tasks} tasks: CPU/task off {cpu_off:.2} µs, on {cpu_on:.2} µs \
         ({:+.2} µs, {:+.1} %); wall/task off {wall_off:.2} µs, on {wall_on:.2} µs ({:+.2} µs, {:+.1} %)",
        cpu_on - cpu_off,
        (cpu_on - cpu_off) / cpu_off * 100.0,
        wall_on - wall_off,
        (wall_on - wall_off) / wall_off * 100.0,
    );
}

/// CPU and wall time per task, in µs.
type CpuWall = (f64, f64);

/// Runs the child with `tasks` tasks, exporting to `endpoint` when given;
/// its CPU and wall time in µs.
fn run_child(tasks: u64, endpoint: Option<&str>) -> (f64, f64) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child", &tasks.to_string()])
        .env("TRACEPARENT", TRACEPARENT)
        .env("RUST_LOG", "warn")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    if let Some(endpoint) = endpoint {
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut numbers = text
        .split_whitespace()
        .map(|n| n.parse::<f64>().expect("cpu and wall"));
    (numbers.next().unwrap(), numbers.next().unwrap())
}

/// The flow process: `tasks` trivial tasks, then its CPU and wall time.
fn child(tasks: u64) {
    let started = Instant::now();
    let telemetry = orch_sdk::embed::start_traces().expect("the exporter");
    let app = App::new("bench").flow("many", move |ctx: FlowContext, _: Value| async move {
        let mut total = 0u64;
        for i in 0..tasks {
            total += *ctx
                .task("step")
                .run(|| async move { Ok::<_, anyhow::Error>(i) })
                .await?;
        }
        Ok::<_, anyhow::Error>(total)
    });
    app.run_standalone("many", Map::new()).expect("the flow");
    drop(telemetry);
    let wall = started.elapsed().as_secs_f64() * 1e6;
    println!("{} {wall}", cpu_micros());
}

/// This process's CPU time (user + system, all threads) in µs.
fn cpu_micros() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// A loopback OTLP/HTTP collector: decodes each export request and counts
/// its spans into `spans`; its address.
fn collector(spans: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let spans = spans.clone();
            std::thread::spawn(move || serve(stream, &spans));
        }
    });
    endpoint
}

/// Answers the HTTP/1.1 requests of one connection.
fn serve(stream: TcpStream, spans: &AtomicU64) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        let count: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        spans.fetch_add(count as u64, Ordering::SeqCst);
        writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
    }
}
