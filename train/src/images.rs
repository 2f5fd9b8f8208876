//! ImageNet-layout image folders (`root/<class>/<image>`), decoded and augmented on worker
//! threads with a bounded prefetch queue.
//!
//! Training batches get the usual random-resized crop (scale 0.08–1, aspect 3/4–4/3) and
//! horizontal flip; evaluation batches a resize to `size/0.875` and a centre crop. Both are
//! normalized with the ImageNet mean and standard deviation. Every sample's randomness is seeded
//! from `(epoch seed, sample index)`, and batches come out in order whatever the thread timing,
//! so an epoch replays exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use image::imageops::FilterType;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::Tensor;

use crate::data::{Dataset, Source};
use crate::error::{Error, Result};

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];
const EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "JPEG"];

/// A folder of class sub-folders.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    samples: Arc<Vec<(PathBuf, i64)>>,
    classes: Vec<String>,
    size: u32,
    train: bool,
    workers: usize,
    prefetch: usize,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

impl ImageFolder {
    /// Lists `root`'s class folders (sorted by name: label = position) and their images.
    /// `train` selects the augmenting pipeline.
    pub fn open(root: &Path, size: i64, train: bool) -> Result<Self> {
        let size = u32::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| Error::Config(format!("bad image size {size}")))?;
        let mut classes: Vec<String> = std::fs::read_dir(root)
            .map_err(io(root))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        classes.sort();
        let mut samples = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let dir = root.join(class);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(io(&dir))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| EXTENSIONS.contains(&e))
                })
                .collect();
            files.sort();
            samples.extend(files.into_iter().map(|f| (f, label as i64)));
        }
        if samples.is_empty() {
            return Err(Error::Data(format!(
                "{}: no images in class folders (expected root/<class>/<image>.jpg|png)",
                root.display()
            )));
        }
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        Ok(Self {
            samples: Arc::new(samples),
            classes,
            size,
            train,
            workers,
            prefetch: 4,
        })
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Decoding threads and batches decoded ahead (defaults: cores up to 8, and 4).
    pub fn with_threads(mut self, workers: usize, prefetch: usize) -> Self {
        self.workers = workers.max(1);
        self.prefetch = prefetch.max(1);
        self
    }

    /// Every image, in file order, as one in-memory data set (for small evaluation sets).
    pub fn load_all(&self) -> Result<Dataset> {
        let order: Vec<i64> = (0..self.samples.len() as i64).collect();
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for batch in self.batches(order, 64, 0) {
            let (x, y) = batch?;
            xs.push(x);
            ys.push(y);
        }
        Dataset::new(Tensor::f_cat(&xs, 0)?, Tensor::f_cat(&ys, 0)?)
    }
}

/// Decodes and transforms one image into CHW floats.
fn load_sample(path: &Path, size: u32, train: bool, rng: &mut StdRng) -> Result<Vec<f32>> {
    let img = image::open(path)
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(Error::Data(format!("{}: empty image", path.display())));
    }
    let out = if train {
        let (x, y, cw, ch) = random_resized_crop(w, h, rng);
        let crop = image::imageops::crop_imm(&img, x, y, cw, ch).to_image();
        let mut out = image::imageops::resize(&crop, size, size, FilterType::Triangle);
        if rng.gen_bool(0.5) {
            image::imageops::flip_horizontal_in_place(&mut out);
        }
        out
    } else {
        center_crop(&img, size)
    };
    let plane = (size * size) as usize;
    let mut chw = vec![0f32; 3 * plane];
    for (i, p) in out.pixels().enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = (f32::from(p[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Ok(chw)
}

/// torchvision's `RandomResizedCrop` box: area fraction in [0.08, 1], log-uniform aspect in
/// [3/4, 4/3]; ten tries, then the centre square.
fn random_resized_crop(w: u32, h: u32, rng: &mut StdRng) -> (u32, u32, u32, u32) {
    let area = f64::from(w) * f64::from(h);
    for _ in 0..10 {
        let target = area * rng.gen_range(0.08..=1.0);
        let ratio = rng
            .gen_range((3.0f64 / 4.0).ln()..=(4.0f64 / 3.0).ln())
            .exp();
        let cw = (target * ratio).sqrt().round() as u32;
        let ch = (target / ratio).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            return (rng.gen_range(0..=w - cw), rng.gen_range(0..=h - ch), cw, ch);
        }
    }
    let s = w.min(h);
    ((w - s) / 2, (h - s) / 2, s, s)
}

/// Resize the shorter side to `size / 0.875`, then cut the centre `size × size`.
fn center_crop(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let short = (f64::from(size) / 0.875).round() as u32;
    let (nw, nh) = if w <= h {
        (
            short,
            (f64::from(h) * f64::from(short) / f64::from(w)).round() as u32,
        )
    } else {
        (
            (f64::from(w) * f64::from(short) / f64::from(h)).round() as u32,
            short,
        )
    };
    let resized = image::imageops::resize(img, nw.max(size), nh.max(size), FilterType::Triangle);
    let (rw, rh) = resized.dimensions();
    image::imageops::crop_imm(&resized, (rw - size) / 2, (rh - size) / 2, size, size).to_image()
}

/// One decoded batch: pixels (CHW per sample, concatenated) and labels.
type Pixels = Result<(Vec<f32>, Vec<i64>)>;
type Decoded = (usize, Pixels);

/// Batches in order, reassembled from the workers' out-of-order results.
struct Prefetch {
    rx: Receiver<Decoded>,
    pending: BTreeMap<usize, Pixels>,
    next: usize,
    total: usize,
    size: i64,
}

impl Iterator for Prefetch {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.total {
            return None;
        }
        while !self.pending.contains_key(&self.next) {
            match self.rx.recv() {
                Ok((i, r)) => {
                    self.pending.insert(i, r);
                }
                Err(_) => {
                    self.next = self.total;
                    return Some(Err(Error::Data("image decoding threads stopped".into())));
                }
            }
        }
        let r = self.pending.remove(&self.next)?;
        self.next += 1;
        Some(r.and_then(|(x, y)| {
            let n = y.len() as i64;
            Ok((
                Tensor::f_from_slice(&x)?.f_reshape([n, 3, self.size, self.size])?,
                Tensor::f_from_slice(&y)?,
            ))
        }))
    }
}

impl Source for ImageFolder {
    fn len(&self) -> i64 {
        self.samples.len() as i64
    }

    fn batches<'a>(
        &'a self,
        order: Vec<i64>,
        batch_size: i64,
        seed: u64,
    ) -> Box<dyn Iterator<Item = Result<(Tensor, Tensor)>> + 'a> {
        let chunks: Arc<Vec<Vec<i64>>> = Arc::new(
            order
                .chunks(batch_size.max(1) as usize)
                .map(<[i64]>::to_vec)
                .collect(),
        );
        let total = chunks.len();
        let (tx, rx) = sync_channel::<Decoded>(self.prefetch);
        for worker in 0..self.workers {
            let (tx, chunks, samples) = (tx.clone(), chunks.clone(), self.samples.clone());
            let (size, train, stride) = (self.size, self.train, self.workers);
            std::thread::spawn(move || {
                for (i, chunk) in chunks.iter().enumerate().skip(worker).step_by(stride) {
                    let batch = decode_batch(&samples, chunk, size, train, seed);
                    // The receiver is gone when the epoch was abandoned: stop quietly.
                    if tx.send((i, batch)).is_err() {
                        return;
                    }
                }
            });
        }
        Box::new(Prefetch {
            rx,
            pending: BTreeMap::new(),
            next: 0,
            total,
            size: i64::from(self.size),
        })
    }
}

fn decode_batch(
    samples: &[(PathBuf, i64)],
    chunk: &[i64],
    size: u32,
    train: bool,
    seed: u64,
) -> Pixels {
    let mut x = Vec::with_capacity(chunk.len() * 3 * (size * size) as usize);
    let mut y = Vec::with_capacity(chunk.len());
    for &index in chunk {
        let (path, label) = usize::try_from(index)
            .ok()
            .and_then(|i| samples.get(i))
            .ok_or_else(|| Error::Data(format!("sample index {index} out of range")))?;
        let mut rng =
            StdRng::seed_from_u64(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x.extend(load_sample(path, size, train, &mut rng)?);
        y.push(*label);
    }
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes of solid-colour images of assorted sizes.
    fn folder(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("sdt-images-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (c, colour) in [
            ("a_red", [255u8, 0, 0]),
            ("b_green", [0, 255, 0]),
            ("c_blue", [0, 0, 255]),
        ] {
            std::fs::create_dir_all(root.join(c)).unwrap();
            for i in 0..5u32 {
                let img = RgbImage::from_pixel(20 + 7 * i, 30 - 3 * i, image::Rgb(colour));
                img.save(root.join(c).join(format!("{i}.png"))).unwrap();
            }
        }
        std::fs::write(root.join("a_red").join("notes.txt"), "not an image").unwrap();
        root
    }

    #[test]
    fn labels_follow_sorted_class_names_and_batches_come_in_order() {
        let root = folder("order");
        let set = ImageFolder::open(&root, 16, true)
            .unwrap()
            .with_threads(3, 2);
        assert_eq!(set.classes(), ["a_red", "b_green", "c_blue"]);
        assert_eq!(Source::len(&set), 15);
        let order: Vec<i64> = (0..15).rev().collect();
        let batches: Vec<_> = set.batches(order, 4, 7).map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 4);
        let labels: Vec<i64> = batches
            .iter()
            .flat_map(|(_, y)| Vec::<i64>::try_from(y).unwrap())
            .collect();
        assert_eq!(labels, [2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(batches[0].0.size(), [4, 3, 16, 16]);
        // Solid red stays red after crop, resize and normalization.
        let (x, _) = &batches[3];
        let red = (1.0 - MEAN[0]) / STD[0];
        let px = x.double_value(&[2, 0, 5, 5]) as f32;
        assert!((px - red).abs() < 1e-4, "{px}");
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn an_epoch_replays_exactly_with_the_same_seed() {
        let root = folder("replay");
        // Gradient images so crops differ visibly.
        for i in 0..5u32 {
            let img = RgbImage::from_fn(40, 30, |x, y| {
                image::Rgb([(x * 6) as u8, (y * 8) as u8, (i * 40) as u8])
            });
            img.save(root.join("a_red").join(format!("{i}.png")))
                .unwrap();
        }
        let set = ImageFolder::open(&root, 12, true)
            .unwrap()
            .with_threads(2, 1);
        let run = |seed| -> Vec<Tensor> {
            set.batches((0..15).collect(), 5, seed)
                .map(|b| b.unwrap().0)
                .collect()
        };
        let (a, b, c) = (run(1), run(1), run(2));
        assert!(a.iter().zip(&b).all(|(x, y)| x.equal(y)));
        assert!(a.iter().zip(&c).any(|(x, y)| !x.equal(y)));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn broken_images_are_errors_and_empty_folders_are_rejected() {
        let root = folder("broken");
        std::fs::write(root.join("b_green").join("9.png"), b"\x89PNG truncated").unwrap();
        let set = ImageFolder::open(&root, 8, false).unwrap();
        let results: Vec<_> = set.batches((0..16).collect(), 16, 0).collect();
        assert!(matches!(&results[0], Err(Error::Data(m)) if m.contains("9.png")));
        let empty = root.join("empty");
        std::fs::create_dir_all(empty.join("x")).unwrap();
        assert!(ImageFolder::open(&empty, 8, false).is_err());
        std::fs::remove_dir_all(&root).ok();
    }
}
