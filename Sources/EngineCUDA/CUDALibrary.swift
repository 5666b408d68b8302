import BenchCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the CUDA backend cannot run here: the loader's own message for each case, checked in
/// order (library file, driver, driver version, device, loading the library, its ABI).
public enum CUDAUnavailable: Error, Equatable, CustomStringConvertible {
    case libraryMissing(path: String)
    case noDriver(library: String, reason: String)
    /// The driver's CUDA version as `cuDriverGetVersion` gives it (12040 is 12.4).
    case driverTooOld(version: Int32)
    case noDevice(reason: String)
    case libraryUnloadable(path: String, reason: String)
    case abiMismatch(path: String, found: Int32)

    public var description: String {
        switch self {
        case .libraryMissing(let path):
            return "CUDA backend library not found at \(path); build it with ./run.sh cuda (or point --cuda-library / ACCELBENCH_CUDA_LIBRARY at it)"
        case .noDriver(let library, let reason):
            return "no NVIDIA driver: \(library) cannot be loaded (\(reason))"
        case .driverTooOld(let v):
            return "the NVIDIA driver supports CUDA \(CUDADriver.versionString(v)); the CUDA backend needs CUDA \(CUDADriver.versionString(CUDADriver.minimumVersion)) or newer (driver 580 or later)"
        case .noDevice(let reason):
            return "no CUDA device: \(reason)"
        case .libraryUnloadable(let path, let reason):
            return "cannot load the CUDA backend library \(path): \(reason)"
        case .abiMismatch(let path, let found):
            return "\(path) has ABI version \(found); this accelbench needs \(CUDALibrary.abiVersion): rebuild it with ./run.sh cuda"
        }
    }

    public var benchError: BenchError { .unavailable(description) }
}

/// The NVIDIA driver, probed through `libcuda` itself (dlopen; no CUDA headers), before the
/// backend library is loaded: its absence, its version and its devices each get their own message.
public enum CUDADriver {
    /// CUDA 13.0: what the backend is built with (PyPI's CUDA 13 wheels).
    public static let minimumVersion: Int32 = 13000
    public static let defaultLibrary = "libcuda.so.1"
    /// CUresult values the messages name (cuda.h).
    static let errorNoDevice: Int32 = 100
    static let errorStubLibrary: Int32 = 34
    static let errorInsufficientDriver: Int32 = 35

    public static func versionString(_ v: Int32) -> String { "\(v / 1000).\(v % 1000 / 10)" }

    /// The driver's version and device count, or why there is no usable one.
    public static func probe(library: String = defaultLibrary) -> Result<(version: Int32, devices: Int32), CUDAUnavailable> {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(.noDriver(library: library, reason: lastDLError()))
        }
        defer { dlclose(handle) }
        typealias IntOut = @convention(c) (UnsafeMutablePointer<Int32>?) -> Int32
        typealias Init = @convention(c) (UInt32) -> Int32
        guard let getVersion = symbol(handle, "cuDriverGetVersion", as: IntOut.self),
              let initialize = symbol(handle, "cuInit", as: Init.self),
              let getCount = symbol(handle, "cuDeviceGetCount", as: IntOut.self) else {
            return .failure(.noDriver(library: library, reason: "it lacks cuDriverGetVersion, cuInit or cuDeviceGetCount"))
        }
        var version: Int32 = 0
        let versionStatus = getVersion(&version)
        let initStatus = initialize(0)
        var count: Int32 = 0
        let countStatus = initStatus == 0 ? getCount(&count) : initStatus
        if let problem = classify(versionStatus: versionStatus, version: version, initStatus: initStatus, countStatus: countStatus,
                                  devices: count) {
            return .failure(problem)
        }
        return .success((version, count))
    }

    /// The decision, apart from the calls (tests drive it with every outcome).
    static func classify(versionStatus: Int32, version: Int32, initStatus: Int32, countStatus: Int32,
                         devices: Int32) -> CUDAUnavailable? {
        if versionStatus != 0 { return .noDriver(library: defaultLibrary, reason: "cuDriverGetVersion failed with CUresult \(versionStatus)") }
        if version < minimumVersion { return .driverTooOld(version: version) }
        switch initStatus {
        case 0: break
        case errorNoDevice: return .noDevice(reason: "cuInit found none (CUDA_ERROR_NO_DEVICE)")
        case errorStubLibrary: return .noDriver(library: defaultLibrary, reason: "it is the toolkit's stub, not a driver (CUDA_ERROR_STUB_LIBRARY)")
        case errorInsufficientDriver: return .driverTooOld(version: version)
        default: return .noDevice(reason: "cuInit failed with CUresult \(initStatus)")
        }
        if countStatus != 0 { return .noDevice(reason: "cuDeviceGetCount failed with CUresult \(countStatus)") }
        if devices <= 0 { return .noDevice(reason: "the driver reports 0 devices") }
        return nil
    }
}

func lastDLError() -> String {
    dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
}

func symbol<T>(_ handle: UnsafeMutableRawPointer, _ name: String, as: T.Type) -> T? {
    guard let p = dlsym(handle, name) else { return nil }
    return unsafeBitCast(p, to: T.self)
}

/// The backend library (`cuda/`, built by `./run.sh cuda`), loaded with dlopen. Its functions
/// are those of `cuda/accelbench_cuda.h`, declared here as C function types.
public final class CUDALibrary: @unchecked Sendable {
    /// AB_CUDA_ABI_VERSION of the header this file mirrors.
    public static let abiVersion: Int32 = 1
    public static let defaultPath = ".build/cuda/libaccelbench_cuda.so"
    public static let environmentVariable = "ACCELBENCH_CUDA_LIBRARY"

    typealias Create = @convention(c) (UnsafePointer<Int32>?, Double, Float, Int32, Int32, UnsafeMutablePointer<CChar>?, Int32) -> OpaquePointer?
    typealias Destroy = @convention(c) (OpaquePointer?) -> Void
    typealias LastError = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    typealias SetWeight = @convention(c) (OpaquePointer?, Int32, Int32, UnsafePointer<Float>?, Int64) -> Int32
    typealias Synthetic = @convention(c) (OpaquePointer?, UInt64) -> Int32
    typealias Memory = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?) -> Int32
    typealias DeviceName = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32
    typealias BytesPerBlock = @convention(c) (OpaquePointer?, Int32) -> Int64
    typealias AllocKV = @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    typealias SetOption = @convention(c) (OpaquePointer?, Int32, Int64) -> Int32
    typealias Step = @convention(c) (OpaquePointer?, Int32, UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?,
                                     UnsafePointer<Float>?, UnsafePointer<Int32>?, UnsafeMutablePointer<Int32>?,
                                     UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Double>?) -> Int32

    let path: String
    let create: Create, destroy: Destroy, lastError: LastError, setWeight: SetWeight, synthetic: Synthetic
    let memory: Memory, deviceName: DeviceName, bytesPerBlock: BytesPerBlock, allocKV: AllocKV, setOption: SetOption, step: Step
    private let handle: UnsafeMutableRawPointer

    /// The path `--cuda-library` gave, else the environment's, else the default build output.
    public static func resolvePath(_ flag: String?) -> String {
        if let flag { return flag }
        if let env = getenv(environmentVariable), env.pointee != 0 { return String(cString: env) }
        return defaultPath
    }

    /// Checks the file, the driver and the device, then loads the library and its functions.
    public static func load(path: String, driverLibrary: String = CUDADriver.defaultLibrary) -> Result<CUDALibrary, CUDAUnavailable> {
        guard access(path, F_OK) == 0 else { return .failure(.libraryMissing(path: path)) }
        if case .failure(let why) = CUDADriver.probe(library: driverLibrary) { return .failure(why) }
        // A bare name would be searched on the library path; the file we checked is what loads.
        let absolute = path.hasPrefix("/") ? path : (currentDirectory() + "/" + path)
        guard let handle = dlopen(absolute, RTLD_NOW | RTLD_LOCAL) else {
            return .failure(.libraryUnloadable(path: path, reason: lastDLError()))
        }
        typealias Version = @convention(c) () -> Int32
        guard let version = symbol(handle, "ab_cuda_abi_version", as: Version.self) else {
            dlclose(handle)
            return .failure(.libraryUnloadable(path: path, reason: "it has no ab_cuda_abi_version: not accelbench's CUDA library"))
        }
        let found = version()
        guard found == abiVersion else {
            dlclose(handle)
            return .failure(.abiMismatch(path: path, found: found))
        }
        guard let library = CUDALibrary(handle: handle, path: path) else {
            dlclose(handle)
            return .failure(.libraryUnloadable(path: path, reason: "a function of ABI \(abiVersion) is missing"))
        }
        return .success(library)
    }

    private init?(handle: UnsafeMutableRawPointer, path: String) {
        guard let create = symbol(handle, "ab_cuda_create", as: Create.self),
              let destroy = symbol(handle, "ab_cuda_destroy", as: Destroy.self),
              let lastError = symbol(handle, "ab_cuda_last_error", as: LastError.self),
              let setWeight = symbol(handle, "ab_cuda_set_weight", as: SetWeight.self),
              let synthetic = symbol(handle, "ab_cuda_synthetic_weights", as: Synthetic.self),
              let memory = symbol(handle, "ab_cuda_memory", as: Memory.self),
              let deviceName = symbol(handle, "ab_cuda_device_name", as: DeviceName.self),
              let bytesPerBlock = symbol(handle, "ab_cuda_kv_bytes_per_block", as: BytesPerBlock.self),
              let allocKV = symbol(handle, "ab_cuda_alloc_kv", as: AllocKV.self),
              let setOption = symbol(handle, "ab_cuda_set_option", as: SetOption.self),
              let step = symbol(handle, "ab_cuda_step", as: Step.self) else { return nil }
        self.handle = handle
        self.path = path
        self.create = create
        self.destroy = destroy
        self.lastError = lastError
        self.setWeight = setWeight
        self.synthetic = synthetic
        self.memory = memory
        self.deviceName = deviceName
        self.bytesPerBlock = bytesPerBlock
        self.allocKV = allocKV
        self.setOption = setOption
        self.step = step
    }

    // The library stays loaded for the process's life: contexts may outlive any one owner.
}

func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return String(cString: buffer)
}
