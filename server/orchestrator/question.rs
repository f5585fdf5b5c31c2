//! Questions agents ask while they run (ACP permission requests with `permission = "ask"`):
//! the task waits in `needs_input` with the question recorded in the database, until an answer
//! arrives from the editor attached to this server (`window/showMessageRequest`), from any
//! server or `baton task answer` through the database, or the permission timeout rejects it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;

use super::Inner;
use super::task::{TaskId, TaskState};
use crate::agents::{AskOption, Asker};

/// How often the database is read for an answer given elsewhere, in milliseconds.
const ANSWER_POLL_MS: u64 = 500;

/// An answer to an agent's permission request, as the user gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Allow,
    Reject,
}

impl Answer {
    /// `allow` or `reject` (any case, surrounding blanks ignored); anything else is `None`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "allow" => Some(Answer::Allow),
            "reject" => Some(Answer::Reject),
            _ => None,
        }
    }

    /// `allow` or `reject`: the word stored and shown.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Answer::Allow => "allow",
            Answer::Reject => "reject",
        }
    }
}

/// Asks for one task: records the question, moves the task to `needs_input`, and waits for the
/// first answer from the editor or the database, or the timeout. What happened to the run's
/// questions that affects its result (a timeout) is kept in `notes`.
pub(super) struct TaskAsker {
    pub(super) inner: Arc<Inner>,
    pub(super) id: TaskId,
    /// The editor attached to this server, if it can answer ([`crate::agents::NoUser`] if not).
    pub(super) editor: Arc<dyn Asker>,
    /// In milliseconds; 0 waits without a limit of its own.
    pub(super) timeout_ms: u64,
    pub(super) notes: Arc<Mutex<Vec<String>>>,
}

/// Where an answer came from.
enum Got {
    /// The editor chose this option (by name).
    Editor(String),
    Recorded(Answer),
    TimedOut,
}

impl Asker for TaskAsker {
    fn ask(&self, question: String, options: Vec<AskOption>) -> BoxFuture<'static, Option<String>> {
        let (inner, id, timeout_ms, notes) = (self.inner.clone(), self.id, self.timeout_ms, self.notes.clone());
        let editor = self.editor.ask(question.clone(), options.clone());
        Box::pin(async move {
            let name = |allow: bool| options.iter().find(|o| o.allow == allow).map(|o| o.name.clone());
            let choice = |allow: bool| name(allow).map(|n| format!(" ({n})")).unwrap_or_default();
            let text = format!(
                "{question}; answer allow{} or reject{} (baton task answer {id} allow|reject)",
                choice(true),
                choice(false)
            );
            if let Err(e) = inner.store.set_question(id, Some(&text)) {
                tracing::warn!(task = id, error = %e, "cannot record the agent's question");
            }
            if let Err(e) = inner.transition(id, TaskState::NeedsInput, text) {
                // Discarded or stopped meanwhile: nobody will answer.
                tracing::debug!(task = id, error = %e, "the task cannot wait for input");
                return None;
            }
            let from_editor = async {
                match editor.await {
                    Some(name) => name,
                    // Dismissed, or the editor cannot ask: wait for another answer.
                    None => std::future::pending().await,
                }
            };
            let recorded = async {
                let mut tick = tokio::time::interval(Duration::from_millis(ANSWER_POLL_MS));
                loop {
                    tick.tick().await;
                    if let Ok(Some(answer)) = inner.store.answer(id)
                        && let Some(answer) = Answer::parse(&answer)
                    {
                        return answer;
                    }
                }
            };
            let timeout = async {
                if timeout_ms == 0 {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
            };
            let got = tokio::select! {
                name = from_editor => Got::Editor(name),
                answer = recorded => Got::Recorded(answer),
                () = timeout => Got::TimedOut,
            };
            let (chosen, said) = match got {
                Got::Editor(n) => {
                    let said = format!("answered in the editor: {n}");
                    (Some(n), said)
                }
                Got::Recorded(a) => (name(a == Answer::Allow), format!("answered: {}", a.as_str())),
                Got::TimedOut => {
                    let note = format!(
                        "the agent's permission request got no answer within {timeout_ms} ms and was rejected \
                         ({question})"
                    );
                    notes.lock().push(note.clone());
                    (name(false), note)
                }
            };
            if let Err(e) = inner.store.set_question(id, None) {
                tracing::warn!(task = id, error = %e, "cannot clear the agent's question");
            }
            if let Err(e) = inner.transition(id, TaskState::Running, said) {
                tracing::debug!(task = id, error = %e, "the task left needs_input meanwhile");
            }
            chosen
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_and_reject_are_answers() {
        assert_eq!(Answer::parse(" Allow\n"), Some(Answer::Allow));
        assert_eq!(Answer::parse("REJECT"), Some(Answer::Reject));
        for bad in ["", "yes", "allow once", "allow;reject", "Allow once"] {
            assert_eq!(Answer::parse(bad), None, "{bad:?}");
        }
    }
}
