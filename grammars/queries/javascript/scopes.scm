; Nodes that delimit a scope around the cursor.
(function_declaration) @scope
(generator_function_declaration) @scope
(class_declaration) @scope
(method_definition) @scope
(arrow_function) @scope
(function_expression) @scope
