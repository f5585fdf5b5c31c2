//! One LSP method, one handler: parse the params, snapshot state, call the core, convert back.

pub mod code_action;
pub mod completion;
pub mod did_change;
pub mod did_change_configuration;
pub mod did_close;
pub mod did_open;
pub mod execute_command;
pub mod health;
pub mod initialize;
pub mod initialized;
pub mod inline_completion;
pub mod model_edit;
pub mod suggest;
pub mod task_commands;
