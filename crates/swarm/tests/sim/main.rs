//! Whole-swarm simulations: real `Swarm` cores, scripted peers, in-memory pipes and disks on
//! a virtual clock (see `support`). One module per theme.

mod support;

mod ban;
mod choke;
mod choker;
mod determinism;
mod disk;
mod endgame;
mod malformed;
mod metadata;
mod multi;
mod pex;
mod timeout;
mod transfer;
mod vanish;
mod wanted;
