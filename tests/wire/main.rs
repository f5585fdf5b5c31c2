//! Wire-level tests: the real `baton` binary over stdio, against a scripted model server on
//! 127.0.0.1 that speaks each provider's real wire format.

mod agent_model;
mod agents;
mod answers;
mod cli;
mod closing_tail;
mod completion;
mod config_reload;
mod confinement;
mod context;
mod edits;
mod encodings;
mod faults;
mod lifecycle;
mod nes;
mod nes_analogy;
mod nes_coalesce;
mod ordering;
mod panel;
mod prompt_free;
mod suggestions;
mod syntax;
mod task_files;
mod task_git;
mod task_protocol;
mod tasks;
mod transport;
mod typing_calls;
