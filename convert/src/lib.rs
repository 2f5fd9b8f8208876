//! Turn trained SDT-V3 weights into validated `sdt-core` model blobs.

pub mod checkpoint;
