; Nodes that delimit a scope: the innermost one around the cursor gives the prompt its header and
; the completion its end.
(function_item) @scope
(impl_item) @scope
(trait_item) @scope
(mod_item) @scope
(struct_item) @scope
(enum_item) @scope
(closure_expression) @scope
