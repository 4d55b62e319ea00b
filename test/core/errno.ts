// An EIO_READ message must name the errno: either its symbolic name or Rust's "(os error N)".
export const ERRNO_ENOENT = /\bENOENT\b|\(os error 2\)/;
export const ERRNO_EISDIR = /\bEISDIR\b|\(os error 21\)/;
