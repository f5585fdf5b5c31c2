; Comments, whole: a TODO or FIXME inside one can be delegated to a background agent. `<!--`
; comments are the legacy HTML-like ones.
(comment) @comment
(html_comment) @comment
