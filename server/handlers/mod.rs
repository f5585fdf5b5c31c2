//! One LSP method, one handler: parse the params, snapshot state, call the core, convert back.

pub(crate) mod agents;
pub(crate) mod code_action;
pub(crate) mod completion;
pub(crate) mod completion_panel;
pub(crate) mod did_change;
pub(crate) mod did_change_configuration;
pub(crate) mod did_change_watched_files;
pub(crate) mod did_close;
pub(crate) mod did_open;
pub(crate) mod execute_command;
pub(crate) mod health;
pub(crate) mod initialize;
pub(crate) mod initialized;
pub(crate) mod inline_completion;
pub(crate) mod inline_edit;
pub(crate) mod model_edit;
pub(crate) mod suggest;
pub(crate) mod task_commands;
pub(crate) mod task_files;
