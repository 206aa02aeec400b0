//! The server over TCP: every scenario runs against a real `selki-server`
//! process, on SQLite and on PostgreSQL.

mod alerting;
mod bad_input;
mod bounds;
mod console;
mod crash;
mod debugging;
mod delivery;
mod egress;
mod events;
mod faults;
mod fixtures;
mod grpc_web;
mod harness;
mod health;
mod keys;
mod management;
mod operational;
mod process;
mod proxies;
mod receiver;
mod resilience;
mod secrets;
mod sessions;
mod settings;
mod traces;
