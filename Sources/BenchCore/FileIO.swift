#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// The few file operations every result and workload writer needs. Kept as plain POSIX calls so
// the crash guarantees are explicit: final names appear only by rename(2) of a complete file.

public enum FileIO {
    /// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
    /// Readers see the old file or the new one, never a partial one.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(BenchError) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BenchError.io(path, "cannot create: \(errnoText())") }
        do throws(BenchError) {
            try writeAll(fd, bytes, path: path)
            guard fsync(fd) == 0 else { throw BenchError.io(path, "fsync failed: \(errnoText())") }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = errnoText()
            unlink(tmp)
            throw BenchError.io(path, "cannot rename into place: \(e)")
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(BenchError) {
        var ok = true
        var err = ""
        bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    err = errnoText()
                    return
                }
                off += n
            }
        }
        if !ok { throw BenchError.io(path, "write failed: \(err)") }
    }

    public static func readFile(_ path: String) throws(BenchError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw BenchError.io(path, errno == ENOENT ? "no such file" : "cannot open: \(errnoText())")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BenchError.io(path, "cannot stat: \(errnoText())") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw BenchError.io(path, "is a directory") }
        var out = [UInt8]()
        out.reserveCapacity(Int(st.st_size) + 1)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.io(path, "read failed: \(errnoText())")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// `path` with symbolic links, `.` and `..` resolved (as given when it does not exist).
    public static func canonicalPath(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func removeFile(_ path: String) throws(BenchError) {
        guard unlink(path) == 0 else { throw BenchError.io(path, "cannot remove: \(errnoText())") }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// mkdir -p.
    public static func makeDirectories(_ path: String) throws(BenchError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw BenchError.io(path, "cannot create directory: \(errnoText())")
            }
        }
        guard isDirectory(path) else { throw BenchError.io(path, "exists and is not a directory") }
    }

    public static func errnoText() -> String { String(cString: strerror(errno)) }

    /// A default number of connections to hold open: `cap`, or the process's descriptor limit
    /// less `reserve` (descriptors for files, the listener, epoll) when that is lower. The
    /// client's pool and serve's connection cap both use it.
    public static func connectionLimit(cap: Int = 4096, reserve: Int = 64) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return cap }
        return Int(max(1, min(Int64(cap), Int64(clamping: limit.rlim_cur) - Int64(reserve))))
    }
}

/// An append-only JSONL journal. Lines are written whole with one write(2) each, so after a
/// crash the file holds every finished record (a torn last line at worst, which readers drop);
/// `commit()` moves it to its final name.
public final class LineJournal {
    public let finalPath: String
    public let partialPath: String
    private var fd: Int32
    public private(set) var lines = 0
    /// Lines are collected up to this many bytes before one write (0: every line at once).
    private let bufferBytes: Int
    private var buffer: [UInt8] = []

    /// - Parameter bufferBytes: 0 writes each line as it comes (request records: a crash loses
    ///   none that finished); a buffer suits high-rate, less precious lines (engine iterations).
    public init(path: String, bufferBytes: Int = 0) throws(BenchError) {
        finalPath = path
        partialPath = path + ".partial"
        self.bufferBytes = bufferBytes
        fd = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw BenchError.io(partialPath, "cannot create: \(FileIO.errnoText())") }
        if bufferBytes > 0 { buffer.reserveCapacity(bufferBytes + 4096) }
    }

    public func append(line bytes: [UInt8]) throws(BenchError) {
        lines += 1
        if bufferBytes == 0 {
            try FileIO.writeAll(fd, bytes, path: partialPath)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= bufferBytes { try flush() }
    }

    /// Writes buffered lines (each whole).
    public func flush() throws(BenchError) {
        guard !buffer.isEmpty, fd >= 0 else { return }
        try FileIO.writeAll(fd, buffer, path: partialPath)
        buffer.removeAll(keepingCapacity: true)
    }

    /// fsync, close, and rename to the final name.
    public func commit() throws(BenchError) {
        guard fd >= 0 else { return }
        try flush()
        guard fsync(fd) == 0 else { throw BenchError.io(partialPath, "fsync failed: \(FileIO.errnoText())") }
        close(fd)
        fd = -1
        guard rename(partialPath, finalPath) == 0 else {
            throw BenchError.io(finalPath, "cannot rename into place: \(FileIO.errnoText())")
        }
    }

    deinit {
        if fd >= 0 {
            try? flush()
            close(fd)
        }
    }
}
