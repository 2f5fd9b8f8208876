//! Event-camera stream decoders.
