; Comments, whole: a TODO or FIXME inside one can be delegated to a background agent. Doc comments
; are line comments too.
(line_comment) @comment
(block_comment) @comment
