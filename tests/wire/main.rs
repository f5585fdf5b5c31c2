//! Wire-level tests: the real `baton` binary over stdio, against a scripted model server on
//! 127.0.0.1 that speaks each provider's real wire format.

mod agent_model;
mod cli;
mod closing_tail;
mod completion;
mod confinement;
mod edits;
mod encodings;
mod faults;
mod lifecycle;
mod ordering;
mod syntax;
mod task_files;
mod task_git;
mod tasks;
mod transport;
