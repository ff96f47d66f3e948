//! Client library of the relay (in progress).
