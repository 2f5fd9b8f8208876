//! `Session::run` never touches the heap: a counting global allocator sees no allocation on
//! the running thread during whole-model runs with either kernel (with and without stats).

mod alloc_count;
mod common;

use alloc_count::allocations;

use common::*;
use sdt_core::graph::AttentionOrder;
use sdt_core::{Input, Kernel, Sequential, Session, Stats};

#[test]
fn counter_sees_allocations() {
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert!(n >= 1, "the counting allocator is not in use");
}

#[test]
fn other_threads_counting_do_not_disturb_a_count() {
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                allocations(|| drop(std::hint::black_box(vec![1u8; 64])));
            }
        });
        for _ in 0..1000 {
            assert_eq!(allocations(|| std::hint::black_box(())), 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn run_does_not_allocate() {
    let mut stats = Box::<Stats>::default();
    for order in [AttentionOrder::QkThenV, AttentionOrder::KvFirst] {
        let blob = tiny_model(3, order).blob();
        let model = blob.model().unwrap();
        let mut arena = vec![0u8; sdt_core::arena_bytes(&model, 1).unwrap()];
        let input: Vec<i8> = (0..model.input_len()).map(|i| (i * 29) as i8).collect();
        let mut session = Session::new(&model, &mut arena, 1).unwrap();
        for kernel in [Kernel::SpikeDriven, Kernel::Dense] {
            let n = allocations(|| {
                session.set_input(Input::I8(&input)).unwrap();
                session.run(kernel, &Sequential, None).unwrap();
                session.run(kernel, &Sequential, Some(&mut stats)).unwrap();
                let _ = std::hint::black_box(session.top1());
            });
            assert_eq!(n, 0, "{kernel:?} {order:?} allocated");
        }
        assert!(stats.total().sites > 0);
    }
    // Loading and planning do not allocate either.
    let blob = tiny_model(4, AttentionOrder::KvFirst).blob();
    let mut arena = vec![0u8; 1 << 16];
    let n = allocations(|| {
        let model = blob.model().unwrap();
        let session = Session::new(&model, &mut arena, 1).unwrap();
        std::hint::black_box(session.plan().bytes);
    });
    assert_eq!(n, 0, "load or plan allocated");
}
