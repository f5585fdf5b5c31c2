; Declarations that bring names into scope; kept in the prompt when they fall outside its window.
(use_declaration) @import
(extern_crate_declaration) @import
