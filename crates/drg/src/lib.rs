//! drg
