; Declarations that bring names into scope; kept in the prompt when they fall outside its window.
(import_statement) @import
