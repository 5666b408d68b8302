import BenchCore

/// A `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the data. Memory-mapped; F32, F16 and BF16 are
/// read (the dtypes Hugging Face checkpoints of Llama models use).
public final class SafeTensorsFile: @unchecked Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let dtype: String
        /// Outermost dimension first (PyTorch's order).
        public let shape: [Int]
        public let begin: Int
        public let end: Int
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let tensors: [String: Tensor]
    private let mapping: FileMapping
    private let dataStart: Int

    public init(path: String) throws(BenchError) {
        self.path = path
        mapping = try FileMapping(path: path)
        guard mapping.count >= 8 else { throw BenchError.data(path, "too short for a safetensors header") }
        let n = UInt64(littleEndian: mapping.base.loadUnaligned(as: UInt64.self))
        guard n <= UInt64(mapping.count - 8), n <= 100 << 20 else {
            throw BenchError.data(path, field: "header", "header length \(n) runs past the end of the file (\(mapping.count) bytes)")
        }
        dataStart = 8 + Int(n)
        let header: JSONValue
        do {
            header = try JSONParser.parse(UnsafeBufferPointer(start: mapping.base.assumingMemoryBound(to: UInt8.self) + 8, count: Int(n)))
        } catch {
            throw BenchError.data(path, field: "header", "not JSON: \(error)")
        }
        guard case .object(let pairs) = header else { throw BenchError.data(path, field: "header", "expected an object") }
        var out: [String: Tensor] = [:]
        let dataBytes = mapping.count - dataStart
        for (name, v) in pairs where name != "__metadata__" {
            guard case .string(let dtype)? = v["dtype"], case .array(let dims)? = v["shape"], case .array(let offs)? = v["data_offsets"],
                  offs.count == 2 else {
                throw BenchError.data(path, field: name, "expected dtype, shape and data_offsets")
            }
            var shape: [Int] = []
            for d in dims {
                guard case .number(let x) = d, x >= 0, x == x.rounded(), x < 1e12 else { throw BenchError.data(path, field: name, "bad shape") }
                shape.append(Int(x))
            }
            guard case .number(let b) = offs[0], case .number(let e) = offs[1], b >= 0, e >= b, e <= Double(dataBytes), b == b.rounded(), e == e.rounded() else {
                throw BenchError.data(path, field: name, "data_offsets outside the file's \(dataBytes) data bytes: truncated?")
            }
            let t = Tensor(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(e))
            if let size = Self.elementSize(dtype), t.elementCount.multipliedReportingOverflow(by: size) != (t.end - t.begin, false) {
                throw BenchError.data(path, field: name, "\(t.end - t.begin) bytes for \(t.elementCount) \(dtype) values")
            }
            out[name] = t
        }
        tensors = out
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F32": return 4
        case "F16", "BF16": return 2
        default: return nil
        }
    }

    /// The tensor as Float, row-major in its own order.
    public func floats(_ t: Tensor) throws(BenchError) -> [Float] {
        let type: GGMLType
        switch t.dtype {
        case "F32": type = .f32
        case "F16": type = .f16
        case "BF16": type = .bf16
        default: throw BenchError.data(path, field: t.name, "dtype \(t.dtype) is not supported (F32, F16, BF16)")
        }
        let src = mapping.base + dataStart + t.begin
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            Dequantize.row(type, src, count: t.elementCount, into: buf.baseAddress!)
            n = t.elementCount
        }
    }
}
