//! Empty: the models are in `tests/`.
