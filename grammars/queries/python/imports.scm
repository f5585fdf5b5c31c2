; Declarations that bring names into scope; kept in the prompt when they fall outside its window.
(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import
