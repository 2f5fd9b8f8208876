//! Convolutions over HWC tensors: k×k (any stride and padding), depthwise, 1×1 and the
//! encoding layer. Weights are `[ky][kx][in][out]` (depthwise `[ky][kx][c]`), so the weights
//! one input spike reaches are one contiguous column.

use core::ops::Range;

use super::level::Level;
use super::output::Sink;
use super::{add_column, mac_column, Isa, Kernel, Pixel, Portable, Weight};
use crate::graph::ConvGeom;

/// A convolution's operands.
pub struct ConvArgs<'a, W> {
    pub geom: ConvGeom,
    pub in_h: usize,
    pub in_w: usize,
    pub out_w: usize,
    pub weights: &'a [W],
}

impl<W> ConvArgs<'_, W> {
    /// (input pixel index, kernel tap index) pairs feeding output pixel (oy, ox).
    #[inline(always)]
    pub(super) fn taps(&self, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let g = &self.geom;
        let (k, s, p) = (g.kernel as usize, g.stride as usize, g.pad as usize);
        let (y0, x0) = (
            (oy * s) as isize - p as isize,
            (ox * s) as isize - p as isize,
        );
        (0..k * k).filter_map(move |tap| {
            let iy = y0 + (tap / k) as isize;
            let ix = x0 + (tap % k) as isize;
            let inside =
                iy >= 0 && ix >= 0 && (iy as usize) < self.in_h && (ix as usize) < self.in_w;
            inside.then(|| (iy as usize * self.in_w + ix as usize, tap))
        })
    }
}

/// Scratch values (`i32`) one worker of [`conv_rows`] needs.
pub fn conv_scratch_len(geom: &ConvGeom) -> usize {
    // Accumulators, then the active-channel list (u16, two per i32).
    geom.out_c as usize + (geom.in_c as usize).div_ceil(2)
}

/// Computes output rows `rows` of a spike convolution with the kernels of `level`, handing
/// each pixel to `sink`. `scratch` holds [`conv_scratch_len`] values.
pub fn conv_rows<W: Weight, S: Sink + ?Sized>(
    level: Level,
    kernel: Kernel,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    rows: Range<usize>,
    scratch: &mut [i32],
    sink: &mut S,
) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_64 as x86;
        if level.uses(Level::Avx512) {
            // SAFETY: `uses` checked that the CPU has AVX-512 F/BW/VL.
            return unsafe { x86::conv_rows_avx512(kernel, a, input, rows, scratch, sink) };
        }
        if level.uses(Level::Avx2) {
            // SAFETY: `uses` checked that the CPU has AVX2.
            return unsafe { x86::conv_rows_avx2(kernel, a, input, rows, scratch, sink) };
        }
    }
    let _ = level;
    conv_rows_with::<Portable, W, S>(kernel, a, input, rows, scratch, sink)
}

/// [`conv_rows`] with kernel set `I` (inlined into the entry that has its instructions).
#[inline(always)]
pub(super) fn conv_rows_with<I: Isa, W: Weight, S: Sink + ?Sized>(
    kernel: Kernel,
    a: &ConvArgs<'_, W>,
    input: &[u8],
    rows: Range<usize>,
    scratch: &mut [i32],
    sink: &mut S,
) {
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let (acc, active) = scratch.split_at_mut(out_c);
    let active: &mut [u16] = &mut bytemuck::cast_slice_mut(active)[..in_c];
    #[cfg(feature = "helium")]
    let mut columns = super::helium::Columns::new();
    // Bounds the plane counts of the depthwise adds (see `helium::depthwise_pixel`)
    // and lets the column listing of a spike convolution write counts without a loop.
    #[cfg(feature = "helium")]
    let max_count = match kernel == Kernel::SpikeDriven {
        true => super::helium::max_count(input),
        false => u8::MAX,
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let mut lists = super::columns::Columns::new();
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let narrow_weights =
        spike_i8(kernel, a).filter(|a8| !a8.geom.depthwise && super::columns::fits(a8));
    // The largest count: the binary-spike planes the vector listings compare for.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let planes = u8::MAX;
    #[cfg(target_arch = "x86_64")]
    let planes = match I::AVX512 {
        true => {
            use super::x86_64::avx512::{columns, depthwise};
            if let Some(a8) = spike_i8(kernel, a).filter(|a8| a8.geom.depthwise) {
                if depthwise::takes(&a8) {
                    let mut store = |pixel: usize, acc: &[i32]| sink.store(pixel, acc);
                    // SAFETY: `I::AVX512` holds only in the AVX-512 entries of `x86_64`,
                    // which run after the probe found AVX-512 F/BW/VL.
                    unsafe {
                        let planes = depthwise::planes(input);
                        depthwise::spike_rows(&a8, input, planes, rows, &mut store);
                    }
                    return;
                }
            }
            let planes = match narrow_weights {
                // SAFETY: as above.
                Some(_) => unsafe { depthwise::planes(input) },
                None => 0,
            };
            if let Some(a8) = narrow_weights
                .as_ref()
                .filter(|a8| columns::Cache::takes(a8, planes))
            {
                // 3×3: strips of output rows, column by column, each input pixel listed about
                // once per strip.
                let mut cache = columns::Cache::new(a8, planes);
                let mut top = rows.start;
                while top < rows.end {
                    let strip = top..(top + cache.strip()).min(rows.end);
                    for ox in 0..a.out_w {
                        // SAFETY: as above.
                        unsafe { cache.begin_column(a8, input, strip.clone(), ox) };
                        for oy in strip.clone() {
                            let c = &mut cache;
                            let pixel = (oy - rows.start) * a.out_w + ox;
                            // SAFETY: as above.
                            let reached =
                                unsafe { columns::spike_pixel_3x3(c, a8, top, oy, ox, acc) };
                            sink.store_reached(pixel, acc, reached);
                        }
                    }
                    top = strip.end;
                }
                return;
            }
            planes
        }
        false => planes,
    };
    #[cfg(feature = "helium")]
    if kernel == Kernel::SpikeDriven
        && !a.geom.depthwise
        && helium_kept_lists(
            a,
            input,
            rows.clone(),
            max_count,
            &mut columns,
            active,
            acc,
            sink,
        )
    {
        return;
    }
    // The second pixel of a depthwise pair (`helium::depthwise_pair`).
    #[cfg(feature = "helium")]
    let mut next =
        (kernel == Kernel::SpikeDriven && a.geom.depthwise).then(super::helium::NextPixel::new);
    for (r, oy) in rows.enumerate() {
        #[cfg(feature = "helium")]
        let mut paired = false;
        for ox in 0..a.out_w {
            #[cfg(feature = "helium")]
            if paired {
                // Stored with the pixel before it.
                paired = false;
                continue;
            }
            #[cfg(feature = "helium")]
            if let Some(next) = next.as_mut() {
                let c = &mut columns;
                if super::helium::depthwise_pair(c, a, input, max_count, oy, ox, acc, next) {
                    sink.store(r * a.out_w + ox, acc);
                    sink.store(r * a.out_w + ox + 1, &next.0[..out_c]);
                    paired = true;
                    continue;
                }
            }
            #[cfg(feature = "helium")]
            if kernel == Kernel::SpikeDriven && !a.geom.depthwise {
                let c = &mut columns;
                let reached =
                    super::helium::spike_pixel(c, a, input, max_count, oy, ox, active, acc);
                sink.store_reached(r * a.out_w + ox, acc, reached);
                continue;
            }
            #[cfg(feature = "helium")]
            if kernel == Kernel::SpikeDriven
                && a.geom.depthwise
                && super::helium::depthwise_pixel(&mut columns, a, input, max_count, oy, ox, acc)
            {
                sink.store(r * a.out_w + ox, acc);
                continue;
            }
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            if let Some(a8) = &narrow_weights {
                let (l, x) = (&mut lists, input);
                let reached =
                    super::columns::spike_pixel::<I>(l, a8, x, planes, oy, ox, active, acc);
                sink.store_reached(r * a.out_w + ox, acc, reached);
                continue;
            }
            if kernel == Kernel::SpikeDriven && !a.geom.depthwise {
                let narrow = match out_c {
                    8 => spike_pixel_narrow::<W, 8>(a, input, oy, ox, active, acc),
                    16 => spike_pixel_narrow::<W, 16>(a, input, oy, ox, active, acc),
                    24 => spike_pixel_narrow::<W, 24>(a, input, oy, ox, active, acc),
                    32 => spike_pixel_narrow::<W, 32>(a, input, oy, ox, active, acc),
                    _ => false,
                };
                if narrow {
                    sink.store(r * a.out_w + ox, acc);
                    continue;
                }
            }
            acc.fill(0);
            for (pixel, tap) in a.taps(oy, ox) {
                let px = &input[pixel * in_c..(pixel + 1) * in_c];
                if a.geom.depthwise {
                    let w = &a.weights[tap * out_c..(tap + 1) * out_c];
                    depthwise_tap(kernel, acc, px, w);
                } else {
                    let w = &a.weights[tap * in_c * out_c..(tap + 1) * in_c * out_c];
                    match kernel {
                        Kernel::SpikeDriven => spike_tap(acc, px, w, active),
                        Kernel::Dense => dense_tap(acc, px, w),
                    }
                }
            }
            sink.store(r * a.out_w + ox, acc);
        }
    }
}

/// A k×k spike convolution with Helium: strips of output rows, column by column, each input
/// pixel's spikes listed about once per strip (`helium::WindowLists`). Returns `false` (doing
/// nothing) for layers that path does not take. Not inlined: its loop is separate from the
/// per-pixel paths, and the code of each compiles on its own.
#[cfg(feature = "helium")]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn helium_kept_lists<W: Weight, S: Sink + ?Sized>(
    a: &ConvArgs<'_, W>,
    input: &[u8],
    rows: Range<usize>,
    max_count: u8,
    columns: &mut super::helium::Columns,
    active: &mut [u16],
    acc: &mut [i32],
    sink: &mut S,
) -> bool {
    let mut lists = super::helium::WindowLists::new();
    let Some(strip) = lists.strip_rows(a, max_count) else {
        return false;
    };
    let mut top = rows.start;
    while top < rows.end {
        let end = (top + strip).min(rows.end);
        lists.begin_strip(a, top);
        for ox in 0..a.out_w {
            for oy in top..end {
                let reached = match lists.pixel(columns, a, input, top, oy, ox, acc) {
                    Some(reached) => reached,
                    None => super::helium::spike_pixel(
                        columns, a, input, max_count, oy, ox, active, acc,
                    ),
                };
                let pixel = (oy - rows.start) * a.out_w + ox;
                sink.store_reached(pixel, acc, reached);
            }
        }
        top = end;
    }
    true
}

/// `a` with its weights as `i8`, for the spike-driven vector kernels (which take `i8`
/// weights only: the column lists sum `i16` lanes).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn spike_i8<'a, W: Weight>(kernel: Kernel, a: &ConvArgs<'a, W>) -> Option<ConvArgs<'a, i8>> {
    if kernel != Kernel::SpikeDriven || core::mem::size_of::<W>() != 1 {
        return None;
    }
    let weights = bytemuck::try_cast_slice::<W, i8>(a.weights).ok()?;
    Some(ConvArgs {
        geom: a.geom,
        in_h: a.in_h,
        in_w: a.in_w,
        out_w: a.out_w,
        weights,
    })
}

/// One output pixel of a spike convolution with exactly `L` output channels: the running
/// sums live in registers instead of memory across all the input spikes. Returns `true`.
#[inline(always)]
fn spike_pixel_narrow<W: Weight, const L: usize>(
    a: &ConvArgs<'_, W>,
    input: &[u8],
    oy: usize,
    ox: usize,
    active: &mut [u16],
    out: &mut [i32],
) -> bool {
    let in_c = a.geom.in_c as usize;
    let mut sums = [0i32; L];
    for (pixel, tap) in a.taps(oy, ox) {
        let px = &input[pixel * in_c..(pixel + 1) * in_c];
        let w = &a.weights[tap * in_c * L..(tap + 1) * in_c * L];
        let n = list_active(px, active);
        for &i in &active[..n] {
            let i = i as usize;
            let Ok(col) = <&[W; L]>::try_from(&w[i * L..(i + 1) * L]) else {
                continue;
            };
            for _ in 0..px[i] {
                for (x, &v) in sums.iter_mut().zip(col) {
                    *x = x.wrapping_add(v.into());
                }
            }
        }
    }
    out[..L].copy_from_slice(&sums);
    true
}

/// Writes the indices of the non-zero entries of `px` to the front of `active`; returns how
/// many. Spikes are sparse and irregular: eight channels are tested at once, and inside a
/// word with spikes the list is written without branches (they would mispredict).
#[inline(always)]
pub(super) fn list_active(px: &[u8], active: &mut [u16]) -> usize {
    let mut n = 0;
    let mut words = px.chunks_exact(8);
    let mut base = 0;
    for word in words.by_ref() {
        let any = <[u8; 8]>::try_from(word).map_or(true, |w| u64::from_ne_bytes(w) != 0);
        if any {
            for (i, &s) in word.iter().enumerate() {
                active[n] = (base + i) as u16;
                n += (s != 0) as usize;
            }
        }
        base += 8;
    }
    for (i, &s) in words.remainder().iter().enumerate() {
        active[n] = (base + i) as u16;
        n += (s != 0) as usize;
    }
    n
}

/// One kernel tap, spike-driven: a spike count `s` is `s` binary spikes, each adding a column.
#[inline(always)]
fn spike_tap<W: Weight>(acc: &mut [i32], px: &[u8], w: &[W], active: &mut [u16]) {
    let out_c = acc.len();
    let n = list_active(px, active);
    for &i in &active[..n] {
        let i = i as usize;
        let col = &w[i * out_c..(i + 1) * out_c];
        add_column(acc, col);
        for _ in 1..px[i] {
            add_column(acc, col);
        }
    }
}

/// One kernel tap, dense reference: every input multiplies its column, zero or not.
#[inline(always)]
fn dense_tap<W: Weight>(acc: &mut [i32], px: &[u8], w: &[W]) {
    let out_c = acc.len();
    for (i, &s) in px.iter().enumerate() {
        mac_column(acc, s as i32, &w[i * out_c..(i + 1) * out_c]);
    }
}

#[inline(always)]
fn depthwise_tap<W: Weight>(kernel: Kernel, acc: &mut [i32], px: &[u8], w: &[W]) {
    match kernel {
        Kernel::SpikeDriven => {
            for ((a, &s), &wc) in acc.iter_mut().zip(px).zip(w) {
                for _ in 0..s {
                    *a = a.wrapping_add(wc.into());
                }
            }
        }
        Kernel::Dense => {
            for ((a, &s), &wc) in acc.iter_mut().zip(px).zip(w) {
                *a = a.wrapping_add((s as i32).wrapping_mul(wc.into()));
            }
        }
    }
}

/// The operands of [`encode_rows`] besides the accumulators and the sink.
pub(super) struct EncodeArgs<'a, 'w, X, W> {
    pub a: &'a ConvArgs<'w, W>,
    pub input: &'a [X],
    pub zero_points: &'a [i16],
    pub max_abs: i32,
    pub rows: Range<usize>,
}

/// Encoding layer rows with the kernels of `level`: `acc = Σ w · (clamp(x, ±max_abs) −
/// zero_point)`; padding adds zero.
#[allow(clippy::too_many_arguments)]
pub fn encode_rows<X: Pixel, W: Weight, S: Sink + ?Sized>(
    level: Level,
    a: &ConvArgs<'_, W>,
    input: &[X],
    zero_points: &[i16],
    max_abs: i32,
    rows: Range<usize>,
    acc: &mut [i32],
    sink: &mut S,
) {
    let e = EncodeArgs {
        a,
        input,
        zero_points,
        max_abs,
        rows,
    };
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_64 as x86;
        if level.uses(Level::Avx512Vnni) {
            // SAFETY: `uses` checked that the CPU has AVX-512 F/BW/VL and VNNI.
            return unsafe { x86::encode_rows_avx512_vnni(e, acc, sink) };
        }
        if level.uses(Level::Avx512) {
            // SAFETY: `uses` checked that the CPU has AVX-512 F/BW/VL.
            return unsafe { x86::encode_rows_avx512(e, acc, sink) };
        }
        if level.uses(Level::Avx2) {
            // SAFETY: `uses` checked that the CPU has AVX2.
            return unsafe { x86::encode_rows_avx2(e, acc, sink) };
        }
    }
    let _ = level;
    encode_rows_with::<Portable, X, W, S>(e, acc, sink)
}

/// [`encode_rows`] with kernel set `I` (inlined into the entry that has its instructions).
#[inline(always)]
pub(super) fn encode_rows_with<I: Isa, X: Pixel, W: Weight, S: Sink + ?Sized>(
    e: EncodeArgs<'_, '_, X, W>,
    acc: &mut [i32],
    sink: &mut S,
) {
    let EncodeArgs {
        a,
        input,
        zero_points,
        max_abs,
        rows,
    } = e;
    #[cfg(target_arch = "x86_64")]
    if I::AVX512 {
        use super::x86_64::avx512::encode;
        let (z, m, r) = (zero_points, max_abs, rows.clone());
        // SAFETY: `I::AVX512` (and `I::VNNI`) hold only in the AVX-512 (VNNI) entries of
        // `x86_64`, which run after the probe found those features.
        let done = unsafe {
            match I::VNNI {
                true => encode::encode_rows::<true, X, W, S>(a, input, z, m, r, acc, sink),
                false => encode::encode_rows::<false, X, W, S>(a, input, z, m, r, acc, sink),
            }
        };
        if done {
            return;
        }
    }
    #[cfg(feature = "helium")]
    if super::helium::encode_rows(a, input, zero_points, max_abs, rows.clone(), acc, sink) {
        return;
    }
    let (in_c, out_c) = (a.geom.in_c as usize, a.geom.out_c as usize);
    let acc = &mut acc[..out_c];
    for (r, oy) in rows.enumerate() {
        for ox in 0..a.out_w {
            acc.fill(0);
            for (pixel, tap) in a.taps(oy, ox) {
                let px = &input[pixel * in_c..(pixel + 1) * in_c];
                let w = &a.weights[tap * in_c * out_c..(tap + 1) * in_c * out_c];
                for (i, (&x, &zp)) in px.iter().zip(zero_points).enumerate() {
                    let x = x.into().clamp(-max_abs, max_abs) - zp as i32;
                    mac_column(acc, x, &w[i * out_c..(i + 1) * out_c]);
                }
            }
            sink.store(r * a.out_w + ox, acc);
        }
    }
}
