; Comments, whole: a TODO or FIXME inside one can be delegated to a background agent.
(comment) @comment
