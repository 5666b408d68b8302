import BenchCore
#if canImport(Glibc)
import Glibc
#endif

/// A GGUF (version 2 or 3) model file: its metadata and its tensors' names, types, shapes and
/// bytes. The file is memory-mapped; tensor bytes are read in place.
///
/// Layout (the format's own documentation in ggml): magic "GGUF", version, tensor count,
/// metadata count, the metadata key/values, the tensor infos (name, dims, type, offset), then
/// the tensor data, aligned to `general.alignment` (default 32) and each tensor's offset
/// relative to the start of that data section. Everything little-endian.
///
/// Every malformed or truncated part is a `BenchError.data` naming the file and the key or
/// tensor, never a trap: the reader checks each length against the bytes left.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    private let tensorIndex: [String: Int]
    /// Bytes from the file's start to the tensor data section.
    public let dataOffset: Int
    private let mapping: FileMapping

    public convenience init(path: String) throws(BenchError) {
        try self.init(mapping: FileMapping(path: path), path: path)
    }

    /// A GGUF held in memory (tests, the fuzz target); `path` names it in errors.
    public convenience init(bytes: [UInt8], path: String) throws(BenchError) {
        try self.init(mapping: FileMapping(copying: bytes), path: path)
    }

    init(mapping: FileMapping, path: String) throws(BenchError) {
        self.path = path
        self.mapping = mapping
        var c = GGUFCursor(base: mapping.base, count: mapping.count, file: path)
        let magic = try c.u32("magic")
        guard magic == 0x4655_4747 else {  // "GGUF" little-endian
            throw BenchError.data(path, field: "magic", "not a GGUF file (the first bytes are not \"GGUF\")")
        }
        version = try c.u32("version")
        guard version == 2 || version == 3 else {
            throw BenchError.data(path, field: "version", "GGUF version \(version) is not supported (2 or 3)")
        }
        let tensorCount = try c.count("tensor_count", limit: 1 << 24)
        let kvCount = try c.count("metadata_kv_count", limit: 1 << 24)
        var meta: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<kvCount {
            let key = try c.string("metadata[\(i)].key")
            let type = try c.u32(key)
            meta[key] = try c.value(type: type, field: key, depth: 0)
            keys.append(key)
        }
        metadata = meta
        metadataKeys = keys
        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let name = try c.string("tensor[\(i)].name")
            let info = try c.tensorInfo(name: name)
            guard index[name] == nil else { throw BenchError.data(path, field: name, "tensor name appears twice") }
            index[name] = infos.count
            infos.append(info)
        }
        let alignment: Int
        if let a = meta["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 16 else {
                throw BenchError.data(path, field: "general.alignment", "must be a power of two, got \(a)")
            }
            alignment = v
        } else {
            alignment = 32
        }
        dataOffset = (c.offset + alignment - 1) / alignment * alignment
        tensors = infos
        tensorIndex = index
        for t in infos {
            let (end, overflow) = dataOffset.addingReportingOverflow(t.offset)
            guard !overflow, t.byteCount <= mapping.count, end <= mapping.count - t.byteCount else {
                throw BenchError.data(path, field: t.name, "tensor data (\(t.byteCount) bytes at offset \(t.offset)) runs past the end of the file (\(mapping.count) bytes): truncated?")
            }
            guard t.offset % alignment == 0 else {
                throw BenchError.data(path, field: t.name, "tensor offset \(t.offset) is not aligned to \(alignment)")
            }
        }
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's bytes in the mapped file (valid while this object lives).
    public func bytes(of t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping.base + dataOffset + t.offset, count: t.byteCount)
    }

    // MARK: typed metadata access (errors name the key)

    public func string(_ key: String) throws(BenchError) -> String {
        guard let v = metadata[key] else { throw BenchError.data(path, field: key, "missing") }
        guard case .string(let s) = v else { throw BenchError.data(path, field: key, "expected a string, got \(v.typeName)") }
        return s
    }

    public func optionalInt(_ key: String) throws(BenchError) -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int else { throw BenchError.data(path, field: key, "expected an integer, got \(v.typeName)") }
        return i
    }

    public func int(_ key: String) throws(BenchError) -> Int {
        guard let i = try optionalInt(key) else { throw BenchError.data(path, field: key, "missing") }
        return i
    }

    public func optionalFloat(_ key: String) throws(BenchError) -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.double else { throw BenchError.data(path, field: key, "expected a number, got \(v.typeName)") }
        return d
    }

    public func optionalBool(_ key: String) -> Bool? {
        if case .bool(let b)? = metadata[key] { return b }
        return nil
    }

    public func stringArray(_ key: String) throws(BenchError) -> [String] {
        guard let v = metadata[key] else { throw BenchError.data(path, field: key, "missing") }
        guard case .array(let items) = v else { throw BenchError.data(path, field: key, "expected an array, got \(v.typeName)") }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else { throw BenchError.data(path, field: "\(key)[\(i)]", "expected a string") }
            out.append(s)
        }
        return out
    }

    public func floatArray(_ key: String) throws(BenchError) -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard case .array(let items) = v else { throw BenchError.data(path, field: key, "expected an array, got \(v.typeName)") }
        var out: [Float] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let d = item.double, d.isFinite else { throw BenchError.data(path, field: "\(key)[\(i)]", "expected a finite number") }
            out.append(Float(d))
        }
        return out
    }

    public func intArray(_ key: String) throws(BenchError) -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard case .array(let items) = v else { throw BenchError.data(path, field: key, "expected an array, got \(v.typeName)") }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let n = item.int else { throw BenchError.data(path, field: "\(key)[\(i)]", "expected an integer") }
            out.append(n)
        }
        return out
    }
}

/// One metadata value.
public enum GGUFValue: Sendable, CustomStringConvertible {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let u): return Int(exactly: u)
        case .int(let i): return Int(exactly: i)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let d): return d
        case .uint(let u): return Double(u)
        case .int(let i): return Double(i)
        default: return nil
        }
    }

    public var typeName: String {
        switch self {
        case .uint, .int: return "an integer"
        case .float: return "a float"
        case .bool: return "a bool"
        case .string: return "a string"
        case .array: return "an array"
        }
    }

    public var description: String {
        switch self {
        case .uint(let u): return "\(u)"
        case .int(let i): return "\(i)"
        case .float(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .string(let s): return s.count > 80 ? "\"\(s.prefix(77))…\"" : "\"\(s)\""
        case .array(let a): return "[\(a.count) items]"
        }
    }
}

/// ggml tensor types this program reads (the numbering is ggml's).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30

    /// Values per block and bytes per block.
    public var blockValues: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        case .q4_K, .q6_K: return 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18   // f16 scale + 16 bytes of nibbles
        case .q4_1: return 20   // f16 scale, f16 min + 16 bytes
        case .q8_0: return 34   // f16 scale + 32 int8
        case .q4_K: return 144  // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q6_K: return 210  // 128 bytes low nibbles, 64 bytes high bits, 16 int8 scales, f16 d
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q6_K: return "Q6_K"
        }
    }

    /// ggml's names for the types this program does not read, for the error message.
    static let otherNames: [UInt32: String] = [
        6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 13: "Q5_K", 15: "Q8_K", 16: "IQ2_XXS",
        17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
        24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0",
        39: "MXFP4",
    ]
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ggml's order: `shape[0]` is the contiguous (innermost) dimension.
    public let shape: [Int]
    public let type: GGMLType
    /// Relative to the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// Rows of the innermost dimension (a matrix's output features for ggml's weight layout).
    public var rows: Int { shape.count > 1 && shape[0] > 0 ? elementCount / shape[0] : 1 }
}

/// Reads little-endian fields with bounds checks.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let count: Int
    let file: String
    var offset = 0

    private func truncated(_ field: String) -> BenchError {
        BenchError.data(file, field: field, "the file ends inside this field (at byte \(offset) of \(count)): truncated?")
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(BenchError) -> T {
        guard count - offset >= MemoryLayout<T>.size else { throw truncated(field) }
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func u32(_ field: String) throws(BenchError) -> UInt32 { try load(UInt32.self, field) }

    /// A u64 count that must be below `limit` (a corrupt count must not size an allocation).
    mutating func count(_ field: String, limit: Int) throws(BenchError) -> Int {
        let v = try load(UInt64.self, field)
        guard v <= UInt64(limit) else { throw BenchError.data(file, field: field, "\(v) is implausibly large (limit \(limit))") }
        return Int(v)
    }

    mutating func string(_ field: String) throws(BenchError) -> String {
        let n = try load(UInt64.self, field)
        guard n <= UInt64(count - offset) else { throw truncated(field) }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: Int(n))
        offset += Int(n)
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func value(type: UInt32, field: String, depth: Int) throws(BenchError) -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try load(UInt8.self, field)))
        case 1: return .int(Int64(try load(Int8.self, field)))
        case 2: return .uint(UInt64(try load(UInt16.self, field)))
        case 3: return .int(Int64(try load(Int16.self, field)))
        case 4: return .uint(UInt64(try load(UInt32.self, field)))
        case 5: return .int(Int64(try load(Int32.self, field)))
        case 6: return .float(Double(Float(bitPattern: try load(UInt32.self, field))))
        case 7:
            let b = try load(UInt8.self, field)
            guard b <= 1 else { throw BenchError.data(file, field: field, "a bool must be 0 or 1, got \(b)") }
            return .bool(b == 1)
        case 8: return .string(try string(field))
        case 9:
            guard depth < 4 else { throw BenchError.data(file, field: field, "arrays nested too deep") }
            let itemType = try u32(field)
            // Each item takes at least one byte, so a count above the bytes left is corrupt.
            let n = try self.count(field, limit: count - offset)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try value(type: itemType, field: field, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint(try load(UInt64.self, field))
        case 11: return .int(try load(Int64.self, field))
        case 12: return .float(Float64(bitPattern: try load(UInt64.self, field)))
        default: throw BenchError.data(file, field: field, "unknown metadata value type \(type)")
        }
    }

    mutating func tensorInfo(name: String) throws(BenchError) -> GGUFTensorInfo {
        let nDims = try u32(name)
        guard (1...4).contains(nDims) else { throw BenchError.data(file, field: name, "\(nDims) dimensions (1 to 4 expected)") }
        var shape: [Int] = []
        var elements = 1
        for _ in 0..<nDims {
            let d = try self.count(name, limit: 1 << 40)
            guard d > 0 else { throw BenchError.data(file, field: name, "dimension \(shape.count) is 0: an empty tensor") }
            shape.append(d)
            let (m, o) = elements.multipliedReportingOverflow(by: d)
            guard !o, m <= 1 << 40 else { throw BenchError.data(file, field: name, "shape \(shape) is implausibly large") }
            elements = m
        }
        let rawType = try u32(name)
        guard let type = GGMLType(rawValue: rawType) else {
            let known = GGMLType.otherNames[rawType].map { "\($0) (ggml type \(rawType))" } ?? "ggml type \(rawType)"
            let supported = GGMLType.allCases.map(\.name).joined(separator: ", ")
            throw BenchError.data(file, field: name, "tensor type \(known) is not supported (supported: \(supported))")
        }
        guard shape[0] % type.blockValues == 0 else {
            throw BenchError.data(file, field: name, "row length \(shape[0]) is not a multiple of \(type.name)'s block of \(type.blockValues)")
        }
        let offset = try self.count(name, limit: Int.max / 2)
        let bytes = elements / type.blockValues * type.blockBytes
        return GGUFTensorInfo(name: name, shape: shape, type: type, offset: offset, elementCount: elements, byteCount: bytes)
    }
}

/// A read-only memory map of a whole file, unmapped when released (or a copy of bytes in memory).
final class FileMapping: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private let mapped: Bool

    init(copying bytes: [UInt8]) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, bytes.count), alignment: 64)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(p), byteCount: bytes.count) }
        base = UnsafeRawPointer(p)
        count = bytes.count
        mapped = false
    }

    init(path: String) throws(BenchError) {
        if FileIO.isDirectory(path) { throw BenchError.io(path, "is a directory, expected a model file") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BenchError.io(path, FileIO.errnoText()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BenchError.io(path, FileIO.errnoText()) }
        count = Int(st.st_size)
        guard count > 0 else { throw BenchError.data(path, "the file is empty") }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw BenchError.io(path, "mmap: \(FileIO.errnoText())")
        }
        base = UnsafeRawPointer(p)
        mapped = true
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }
}
