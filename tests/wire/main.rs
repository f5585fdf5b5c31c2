//! Wire-level tests: the real `baton` binary over stdio, against a scripted model server on 127.0.0.1.

mod support;
