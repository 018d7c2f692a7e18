//! Tests of the picker as a whole, through its public API: one-line table cases, property
//! tests, a scale test, and the choker on a virtual clock.

mod choker;
mod notation;
mod props;
mod scale;
mod table;
