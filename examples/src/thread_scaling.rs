//! Where a multi-threaded run loses time: every node of one spike-driven run timed alone at one
//! thread and at `threads`, best of a number of repetitions, summed per layer type. A node that
//! splits perfectly takes `1 / threads` of its one-thread time; what it takes beyond that is
//! its loss (uneven splits, the pool's dispatch, work that does not split). Small nodes are
//! listed apart, as their loss is mostly dispatch.

use std::collections::BTreeMap;
use std::time::Instant;

use sdt_convert::verify::QuantizedInput;
use sdt_core::{arena_bytes, kept_thresholds_len, Kernel, Model, Session};
use sdt_host::ThreadPool;

use crate::sdt10m::layer_type;

type BoxError = Box<dyn std::error::Error>;

/// A node under this many milliseconds at one thread counts as small.
const SMALL_MS: f64 = 0.05;

/// Best-of-`reps` milliseconds of the whole run and of every node, at `threads` threads.
pub struct NodeTimes {
    pub whole: f64,
    pub nodes: Vec<f64>,
}

/// Times one spike-driven run of `input` and each of its nodes alone (the nodes run in order,
/// so each sees its real inputs), best of `reps`.
pub fn node_times(
    model: &Model<'_>,
    input: &QuantizedInput,
    threads: usize,
    reps: usize,
) -> Result<NodeTimes, BoxError> {
    let pool = ThreadPool::new(threads)?;
    let mut arena = vec![0u8; arena_bytes(model, threads)?];
    let mut session = Session::new(model, &mut arena, threads)?;
    let mut kept = vec![0i32; kept_thresholds_len(model)];
    session.keep_thresholds(&mut kept)?;
    let n = model.nodes().len();
    let mut times = NodeTimes {
        whole: f64::INFINITY,
        nodes: vec![f64::INFINITY; n],
    };
    for _ in 0..reps.max(1) {
        session.set_input(input.as_input())?;
        let t = Instant::now();
        session.run(Kernel::SpikeDriven, &pool, None)?;
        times.whole = times.whole.min(ms_since(t));
        for (i, best) in times.nodes.iter_mut().enumerate() {
            let t = Instant::now();
            session.run_nodes(i..i + 1, Kernel::SpikeDriven, &pool, None)?;
            *best = best.min(ms_since(t));
        }
    }
    Ok(times)
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// One row of the table: a layer type's time at one thread and at `threads`.
#[derive(Debug, Default, PartialEq)]
pub struct Row {
    pub nodes: usize,
    pub one: f64,
    pub many: f64,
}

impl Row {
    /// Time beyond a perfect split over `threads`.
    pub fn loss(&self, threads: usize) -> f64 {
        self.many - self.one / threads as f64
    }
}

/// Rows per layer type (small nodes under their own key), from per-node times.
pub fn rows(kinds: &[String], one: &[f64], many: &[f64]) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::<String, Row>::new();
    for ((kind, &a), &b) in kinds.iter().zip(one).zip(many) {
        let key = if a < SMALL_MS {
            format!("small nodes (< {SMALL_MS} ms)")
        } else {
            kind.clone()
        };
        let row = rows.entry(key).or_default();
        row.nodes += 1;
        row.one += a;
        row.many += b;
    }
    rows
}

/// Prints the scaling table of `model` on `input` at 1 and `threads` threads.
pub fn print_scaling(
    model: &Model<'_>,
    input: &QuantizedInput,
    threads: usize,
    reps: usize,
) -> Result<(), BoxError> {
    let one = node_times(model, input, 1, reps)?;
    let many = node_times(model, input, threads, reps)?;
    let kinds: Vec<String> = model.nodes().iter().map(|n| layer_type(&n.op)).collect();
    let rows = rows(&kinds, &one.nodes, &many.nodes);
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by(|a, b| b.1.loss(threads).total_cmp(&a.1.loss(threads)));
    println!(
        "whole run: {:.2} ms at 1 thread, {:.2} ms at {threads} ({:.2}×); best of {reps}",
        one.whole,
        many.whole,
        one.whole / many.whole
    );
    println!(
        "{:<34} {:>5} {:>9} {:>9} {:>8} {:>12}",
        "layer type",
        "nodes",
        "1 thr ms",
        format!("{threads} thr ms"),
        "scaling",
        "loss ms"
    );
    let mut total = Row::default();
    for (kind, row) in &rows {
        print_row(kind, row, threads);
        total.nodes += row.nodes;
        total.one += row.one;
        total.many += row.many;
    }
    print_row("nodes summed", &total, threads);
    println!(
        "whole run beyond a perfect split: {:.2} ms",
        many.whole - one.whole / threads as f64
    );
    Ok(())
}

fn print_row(kind: &str, row: &Row, threads: usize) {
    println!(
        "{kind:<34} {:>5} {:>9.3} {:>9.3} {:>7.2}× {:>12.3}",
        row.nodes,
        row.one,
        row.many,
        row.one / row.many,
        row.loss(threads)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_nodes_are_grouped_apart_and_losses_add_up() {
        let kinds: Vec<String> = ["conv 3x3", "conv 3x3", "spike", "conv 1x1"]
            .map(String::from)
            .to_vec();
        let rows = rows(&kinds, &[2.0, 1.0, 0.01, 0.5], &[1.1, 0.5, 0.02, 0.3]);
        let conv3 = &rows["conv 3x3"];
        assert_eq!((conv3.nodes, conv3.one, conv3.many), (2, 3.0, 1.6));
        assert!((conv3.loss(2) - 0.1).abs() < 1e-12);
        assert_eq!(rows["small nodes (< 0.05 ms)"].nodes, 1);
        assert!(!rows.contains_key("spike"));
        let loss: f64 = rows.values().map(|r| r.loss(2)).sum();
        assert!((loss - (1.92 - 3.51 / 2.0)).abs() < 1e-12, "{loss}");
    }
}
