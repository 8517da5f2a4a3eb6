//! Chinese national standard cryptography (GM/T): being written.
