; Declarations that bring names into scope; kept in the prompt when they fall outside its window.
(package_clause) @import
(import_declaration) @import
