; Nodes that delimit a scope around the cursor.
(function_definition) @scope
(class_definition) @scope
