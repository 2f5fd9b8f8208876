//! The RK3588 engine: eligible products of a model as tiled int8 device products, everything
//! else (and all requantization) on the CPU.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sdt_core::engine::{Engine, EngineError, MatMul, Operand, Role};
use sdt_core::Model;

use crate::backend::Backend;
use crate::native::{pack_a, pack_b};
use crate::plan::{plan, BSource, Placement, ProductPlan, DIGIT_BITS};
use crate::tiling::{Limits, Tile};
use crate::RkError;

/// A product prepared at load: its tiles, each with its device context (and packed weights).
struct Prepared<T> {
    plan: ProductPlan,
    tiles: Vec<(Tile, Mutex<T>)>,
}

impl<T> Prepared<T> {
    fn fits(&self, p: &MatMul<'_>) -> bool {
        let kind = matches!(
            (self.plan.source, &p.b),
            (BSource::Weights(_), Operand::I8(_))
                | (BSource::Spikes, Operand::Spikes(_))
                | (BSource::Digits(_), Operand::I32(_))
        );
        kind && (p.m(), p.k(), p.n()) == (self.plan.m, self.plan.k, self.plan.n)
            && p.b.rows() == p.k()
    }
}

/// Runs the products [`plan`] puts on the NPU through `backend`.
pub struct RkEngine<B: Backend> {
    backend: B,
    products: BTreeMap<(u16, Role), Prepared<B::Tile>>,
    calls: AtomicU64,
}

impl<B: Backend> RkEngine<B> {
    /// Plans `model`, packs every weight tile into native B once and prepares the device.
    pub fn new(model: &Model<'_>, backend: B, limits: &Limits) -> Result<Self, RkError> {
        let mut products = Vec::new();
        for layer in plan(model, limits)? {
            if layer.placement != Placement::Npu {
                continue;
            }
            for p in layer.products {
                let weights = match p.source {
                    BSource::Weights(section) => Some(model.weights_i8(section)),
                    _ => None,
                };
                products.push((layer.node, p, weights));
            }
        }
        Self::with_products(backend, products)
    }

    /// An engine for the given products of nodes, with the int8 weights (`K×N`, row-major) of
    /// those whose B is [`BSource::Weights`].
    pub fn with_products<'w>(
        backend: B,
        products: impl IntoIterator<Item = (usize, ProductPlan, Option<&'w [i8]>)>,
    ) -> Result<Self, RkError> {
        let mut prepared = BTreeMap::new();
        for (node, p, weights) in products {
            let mut tiles = Vec::with_capacity(p.tiles.len());
            for t in &p.tiles {
                let b = match (p.source, weights) {
                    (BSource::Weights(_), Some(w)) if w.len() == p.k * p.n => {
                        let mut b = vec![0i8; t.padded.b_len()];
                        let get = |k: usize, n: usize| w[(t.k0 + k) * p.n + t.n0 + n];
                        pack_b(&t.padded, t.k, t.n, get, &mut b);
                        Some(b)
                    }
                    (BSource::Weights(_), _) => {
                        let expected = p.k * p.n;
                        return Err(RkError::Weights { node, expected });
                    }
                    (BSource::Spikes | BSource::Digits(_), _) => None,
                };
                tiles.push((*t, Mutex::new(backend.prepare(t.padded, b)?)));
            }
            let node = u16::try_from(node).map_err(|_| RkError::EmptyProduct)?;
            prepared.insert((node, p.role), Prepared { plan: p, tiles });
        }
        Ok(RkEngine {
            backend,
            products: prepared,
            calls: AtomicU64::new(0),
        })
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Number of products prepared for the device.
    pub fn prepared(&self) -> usize {
        self.products.len()
    }

    /// Number of products computed so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn compute(&self, q: &Prepared<B::Tile>, p: &MatMul<'_>) -> Result<Vec<i32>, RkError> {
        let nd = q.plan.device_n();
        let n = q.plan.n;
        let mut acc = vec![0i32; q.plan.m * nd];
        if let (BSource::Digits(digits), Operand::I32(v)) = (q.plan.source, &p.b) {
            let limit = 1i64 << (DIGIT_BITS as usize * digits);
            let fits = (0..v.rows()).all(|k| (0..v.cols()).all(|j| (v.at(k, j) as i64) < limit));
            let positive = (0..v.rows()).all(|k| (0..v.cols()).all(|j| v.at(k, j) >= 0));
            if !fits || !positive {
                return Err(RkError::Range);
            }
        }
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        let mut range_ok = true;
        for (t, dev) in &q.tiles {
            let s = t.padded;
            a.resize(s.a_len(), 0);
            let get_a = |m: usize, k: usize| {
                let x = p.a.at(t.m0 + m, t.k0 + k);
                i8::try_from(x).unwrap_or(i8::MAX)
            };
            range_ok &= (0..t.m).all(|m| (0..t.k).all(|k| p.a.at(t.m0 + m, t.k0 + k) <= 127));
            pack_a(&s, t.m, t.k, get_a, &mut a);
            let b_now = match (q.plan.source, &p.b) {
                (BSource::Weights(_), _) => None,
                (BSource::Spikes, Operand::Spikes(v)) => {
                    b.resize(s.b_len(), 0);
                    let get = |k: usize, j: usize| v.at(t.k0 + k, t.n0 + j);
                    range_ok &= (0..t.k).all(|k| (0..t.n).all(|j| get(k, j) <= 127));
                    pack_b(&s, t.k, t.n, |k, j| get(k, j) as i8, &mut b);
                    Some(&b[..])
                }
                (BSource::Digits(_), Operand::I32(v)) => {
                    b.resize(s.b_len(), 0);
                    let get = |k: usize, j: usize| {
                        let col = t.n0 + j;
                        let shift = DIGIT_BITS as usize * (col / n);
                        ((v.at(t.k0 + k, col % n) >> shift) & 127) as i8
                    };
                    pack_b(&s, t.k, t.n, get, &mut b);
                    Some(&b[..])
                }
                _ => return Err(RkError::Buffer("B")),
            };
            if !range_ok {
                return Err(RkError::Range);
            }
            c.resize(s.c_len(), 0);
            let mut dev = dev.lock().map_err(|_| RkError::Poisoned)?;
            self.backend.run(&mut dev, &a, b_now, &mut c)?;
            for m in 0..t.m {
                let dst = &mut acc[(t.m0 + m) * nd + t.n0..][..t.n];
                for (j, x) in dst.iter_mut().enumerate() {
                    *x = x.wrapping_add(c[s.c_index(m, j)]);
                }
            }
        }
        Ok(acc)
    }
}

impl<B: Backend> Engine for RkEngine<B> {
    fn takes(&self, p: &MatMul<'_>) -> bool {
        self.products
            .get(&(p.node, p.role))
            .is_some_and(|q| q.fits(p))
    }

    fn matmul(
        &self,
        p: &MatMul<'_>,
        row: &mut [i32],
        out: &mut dyn FnMut(usize, &[i32]),
    ) -> Result<(), EngineError> {
        let q = self
            .products
            .get(&(p.node, p.role))
            .filter(|q| q.fits(p))
            .ok_or(EngineError::Shape)?;
        let acc = self.compute(q, p).map_err(RkError::into_engine)?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (n, nd) = (q.plan.n, q.plan.device_n());
        let found = row.len();
        let r = row
            .get_mut(..n)
            .ok_or(EngineError::RowBuffer { needed: n, found })?;
        for (m, sums) in acc.chunks_exact(nd).enumerate() {
            r.fill(0);
            // Digit j of B gave the sums in columns j·n .. (j+1)·n.
            for (j, digit) in sums.chunks_exact(n).enumerate() {
                let scale = 1i32.wrapping_shl(DIGIT_BITS * j as u32);
                for (x, &s) in r.iter_mut().zip(digit) {
                    *x = x.wrapping_add(s.wrapping_mul(scale));
                }
            }
            out(m, r);
        }
        Ok(())
    }
}
