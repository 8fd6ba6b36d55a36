// errno numbers of x86-64 Linux, pure data, for ffi/, loop/ and the application. http/ imports
// nothing below it: the few numbers its contracts carry (http/types.ts IO, http/static/types.ts
// FS_ERRNO) are its own, checked against these by tests/http/errno_contract_test.ts. Names and
// messages for people are in errno.ts.

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11; // == EWOULDBLOCK on Linux
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EXDEV = 18;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const ENOSPC = 28;
export const EPIPE = 32;
export const ENAMETOOLONG = 36;
export const ENOSYS = 38;
export const ELOOP = 40;
export const ENOTSOCK = 88;
export const EPROTO = 71;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENETDOWN = 100;
export const ENETUNREACH = 101;
export const ECONNABORTED = 103;
export const ECONNRESET = 104;
export const ENOBUFS = 105;
export const ENOTCONN = 107;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;
