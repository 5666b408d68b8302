import BenchCore
@testable import EngineCUDA
import Engine
import Foundation
import Models
import Testing

/// Stand-ins for `libcuda.so.1` and for the backend library, compiled by the test with the C
/// compiler the Swift toolchain brings (clang) or the system's: every loader message on a
/// machine with no GPU, and the Swift side's marshalling of an iteration across the C ABI.
enum FakeLibraries {
    static let compiler: String? = ["clang", "cc", "gcc"].lazy.compactMap { name -> String? in
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }.first

    static let directory: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("accelbench-cuda-fakes-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    /// Compiles `source` into a shared library; nil (and the test skips) without a compiler.
    static func build(_ name: String, _ source: String, defines: [String] = []) throws -> String? {
        guard let compiler else {
            print("no C compiler on PATH: skipping the fake-library test")
            return nil
        }
        let c = directory.appendingPathComponent(name + ".c"), so = directory.appendingPathComponent(name + ".so")
        try source.write(to: c, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: compiler)
        p.arguments = ["-shared", "-fPIC", "-o", so.path, c.path] + defines.map { "-D" + $0 }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw BenchError.io(c.path, "\(compiler) failed") }
        return so.path
    }

    /// A driver whose version, cuInit result and device count are compile-time constants.
    static func driver(version: Int, initStatus: Int = 0, devices: Int = 1) throws -> String? {
        try build("cuda-v\(version)-i\(initStatus)-d\(devices)", """
            int cuDriverGetVersion(int *v) { *v = VERSION; return 0; }
            int cuInit(unsigned flags) { (void)flags; return INIT_STATUS; }
            int cuDeviceGetCount(int *n) { *n = DEVICES; return 0; }
            """, defines: ["VERSION=\(version)", "INIT_STATUS=\(initStatus)", "DEVICES=\(devices)"])
    }

    /// The backend's ABI on the CPU: checks the counts of uploaded tensors as the real library
    /// does, and "samples" a token that encodes what the step was handed for each sequence.
    static let backendSource = """
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        typedef struct { int32_t shape[8]; int32_t tied; int32_t blocks, block_size; char error[256]; } ctx_t;
        int ab_cuda_abi_version(void) { return ABI; }
        void *ab_cuda_create(const int32_t shape[8], double base, float eps, int32_t tied, int32_t device, char *err, int32_t cap) {
            (void)base; (void)eps; (void)device;
            if (shape[4] != 64 && shape[4] != 128) { snprintf(err, cap, "head dimension %d is not supported", shape[4]); return 0; }
            ctx_t *c = calloc(1, sizeof(ctx_t)); memcpy(c->shape, shape, sizeof c->shape); c->tied = tied; return c;
        }
        void ab_cuda_destroy(void *c) { free(c); }
        const char *ab_cuda_last_error(const void *c) { return ((const ctx_t *)c)->error; }
        int ab_cuda_set_weight(void *p, int32_t t, int32_t layer, const float *v, int64_t n) {
            ctx_t *c = p; (void)v; (void)layer;
            int64_t L = c->shape[0], h = c->shape[1], q = (int64_t)c->shape[2] * c->shape[4], kv = (int64_t)c->shape[3] * c->shape[4];
            int64_t I = c->shape[5], V = c->shape[6], want[12] = {V * h, h, V * h, h, q * h, kv * h, kv * h, h * q, h, I * h, I * h, h * I};
            (void)L;
            if (t < 0 || t > 11 || n != want[t]) { snprintf(c->error, 256, "tensor %d: %lld values", t, (long long)n); return 1; }
            return 0;
        }
        int ab_cuda_synthetic_weights(void *c, uint64_t seed) { (void)c; (void)seed; return 0; }
        int ab_cuda_memory(void *c, int64_t *f, int64_t *t) { (void)c; *f = 1 << 30; *t = 2 << 30; return 0; }
        int ab_cuda_device_name(void *c, char *out, int32_t cap) { (void)c; snprintf(out, cap, "Fake GPU (sm_90)"); return 0; }
        int64_t ab_cuda_kv_bytes_per_block(const void *p, int32_t bs) { const ctx_t *c = p; return 2LL * c->shape[0] * bs * c->shape[3] * c->shape[4] * 2; }
        int ab_cuda_alloc_kv(void *p, int32_t n, int32_t bs) { ctx_t *c = p; c->blocks = n; c->block_size = bs; return 0; }
        int ab_cuda_set_option(void *c, int32_t o, int64_t v) { (void)c; (void)v; return o == 0 ? 0 : 1; }
        int ab_cuda_step(void *p, int32_t n, const int32_t *info, const int32_t *tokens, const int32_t *tables, const float *sampling,
                         const int32_t *top_k, int32_t *sampled, float *logits, double *elapsed) {
            ctx_t *c = p; (void)logits; int tok = 0, tab = 0;
            for (int i = 0; i < n; i++) {
                int start = info[4*i], count = info[4*i+1], wants = info[4*i+2], blocks = info[4*i+3];
                for (int b = 0; b < blocks; b++) if (tables[tab + b] < 0 || tables[tab + b] >= c->blocks) { snprintf(c->error, 256, "block %d", tables[tab + b]); return 1; }
                /* last token * 1000 + start + count, plus 7 when the draw is sampled (temperature > 0, u in [0,1), top-k kept) */
                int extra = (sampling[3*i] > 0 && sampling[3*i+2] >= 0 && sampling[3*i+2] < 1 && top_k[i] == 5) ? 7 : 0;
                sampled[i] = wants ? tokens[tok + count - 1] * 1000 + start + count + extra : -1;
                tok += count; tab += blocks;
            }
            *elapsed = 0.001 * n;
            return 0;
        }
        """

    static func backend(abi: Int = 1) throws -> String? { try build("backend-abi\(abi)", backendSource, defines: ["ABI=\(abi)"]) }
}

@Suite struct CUDALoaderTests {
    @Test func aMissingLibraryIsNamedWithHowToBuildIt() {
        guard case .failure(let why) = CUDALibrary.load(path: "/nonexistent/libaccelbench_cuda.so") else {
            Issue.record("loaded a missing library")
            return
        }
        #expect(why == .libraryMissing(path: "/nonexistent/libaccelbench_cuda.so"))
        #expect(why.description.contains("./run.sh cuda"))
        #expect(why.benchError.exitCode == 69)
    }

    @Test func noDriverIsReportedBeforeTheLibraryLoads() throws {
        let file = FakeLibraries.directory.appendingPathComponent("present.so")
        try "not a library".write(to: file, atomically: true, encoding: .utf8)
        let result = CUDALibrary.load(path: file.path, driverLibrary: "libcuda-that-does-not-exist.so.1")
        guard case .failure(.noDriver(let library, _)) = result else { Issue.record("\(result)"); return }
        #expect(library == "libcuda-that-does-not-exist.so.1")
    }

    @Test func everyDriverOutcomeHasItsMessage() {
        #expect(CUDADriver.classify(versionStatus: 0, version: 13000, initStatus: 0, countStatus: 0, devices: 1) == nil)
        let old = CUDADriver.classify(versionStatus: 0, version: 12040, initStatus: 0, countStatus: 0, devices: 1)
        #expect(old == .driverTooOld(version: 12040))
        #expect(old?.description.contains("supports CUDA 12.4") == true)
        #expect(CUDADriver.classify(versionStatus: 0, version: 13000, initStatus: 100, countStatus: 100, devices: 0)
                == .noDevice(reason: "cuInit found none (CUDA_ERROR_NO_DEVICE)"))
        #expect(CUDADriver.classify(versionStatus: 0, version: 13000, initStatus: 0, countStatus: 0, devices: 0)
                == .noDevice(reason: "the driver reports 0 devices"))
        guard case .noDriver? = CUDADriver.classify(versionStatus: 0, version: 13000, initStatus: 34, countStatus: 34, devices: 0) else {
            Issue.record("the toolkit's stub libcuda is not a driver")
            return
        }
        guard case .noDriver? = CUDADriver.classify(versionStatus: 999, version: 0, initStatus: 0, countStatus: 0, devices: 0) else {
            Issue.record("a failing cuDriverGetVersion")
            return
        }
    }

    @Test func fakeDriversGiveTheirMessagesThroughDlopen() throws {
        guard let old = try FakeLibraries.driver(version: 12080), let none = try FakeLibraries.driver(version: 13000, initStatus: 100),
              let zero = try FakeLibraries.driver(version: 13020, devices: 0) else { return }
        #expect(CUDADriver.probe(library: old).failure == .driverTooOld(version: 12080))
        #expect(CUDADriver.probe(library: none).failure == .noDevice(reason: "cuInit found none (CUDA_ERROR_NO_DEVICE)"))
        #expect(CUDADriver.probe(library: zero).failure == .noDevice(reason: "the driver reports 0 devices"))
        guard let good = try FakeLibraries.driver(version: 13000), case .success(let found) = CUDADriver.probe(library: good) else {
            Issue.record("a good driver was refused")
            return
        }
        #expect(found.version == 13000 && found.devices == 1)
    }

    @Test func aLibraryThatIsNotOursOrOfAnotherABIIsRefused() throws {
        guard let driver = try FakeLibraries.driver(version: 13000), let otherABI = try FakeLibraries.backend(abi: 99),
              let foreign = try FakeLibraries.build("foreign", "int unrelated(void) { return 1; }") else { return }
        let text = FakeLibraries.directory.appendingPathComponent("text.so")
        try "not a library".write(to: text, atomically: true, encoding: .utf8)
        guard case .failure(.libraryUnloadable) = CUDALibrary.load(path: text.path, driverLibrary: driver) else {
            Issue.record("a text file loaded")
            return
        }
        guard case .failure(.libraryUnloadable(_, let reason)) = CUDALibrary.load(path: foreign, driverLibrary: driver) else {
            Issue.record("a foreign library loaded")
            return
        }
        #expect(reason.contains("ab_cuda_abi_version"))
        let mismatch = CUDALibrary.load(path: otherABI, driverLibrary: driver).failure
        #expect(mismatch == .abiMismatch(path: otherABI, found: 99))
        #expect(mismatch?.description.contains("rebuild it with ./run.sh cuda") == true)
    }

    @Test func anIterationCrossesTheABIAsTheEngineHandsItOver() throws {
        guard let driver = try FakeLibraries.driver(version: 13000), let path = try FakeLibraries.backend() else { return }
        guard case .success(let library) = CUDALibrary.load(path: path, driverLibrary: driver) else {
            Issue.record("the fake backend did not load")
            return
        }
        // Real shapes, tiny sizes: the upload's tensor sizes are checked by the fake.
        let c = LlamaConfig(numLayers: 2, hiddenSize: 256, numHeads: 4, numKVHeads: 2, intermediateSize: 96, vocabSize: 300,
                            contextLength: 256, ropeBase: 10_000, rmsEpsilon: 1e-5, tiedEmbeddings: false)
        let model = try CUDAModel(library: library, config: c, weights: .loaded(.synthetic(c, seed: 1)))
        #expect(try model.deviceName() == "Fake GPU (sm_90)")
        #expect(model.bytesPerBlock(blockSize: 16) == 2 * 2 * 16 * 2 * 64 * 2)
        try model.allocateKV(blocks: 8, blockSize: 16)
        var decode = CUDAChunk(tokens: [42], startPosition: 20, blocks: [3, 5], wantsLogits: true)
        decode.temperature = 0.7
        decode.topK = 5
        decode.u = 0.25
        let prefill = CUDAChunk(tokens: [7, 8, 9], startPosition: 0, blocks: [1], wantsLogits: false)
        let last = CUDAChunk(tokens: [11, 12], startPosition: 14, blocks: [2], wantsLogits: true)
        guard case .success(let out) = model.step([decode, prefill, last]) else { Issue.record("step failed"); return }
        let expected: [Int32] = [42_028, -1, 12_016]  // token × 1000 + start + count (+ 7: the sampled draw arrived)
        #expect(out.sampled == expected)
        #expect(abs(out.seconds - 0.003) < 1e-12)
        // A block outside the pool is the library's error, returned, not a crash.
        guard case .failure(let f) = model.step([CUDAChunk(tokens: [1], startPosition: 0, blocks: [99], wantsLogits: true)]) else {
            Issue.record("a bad block id passed")
            return
        }
        #expect(f.message == "block 99")
    }

    @Test func aCreateErrorIsTheLibrarysMessage() throws {
        guard let driver = try FakeLibraries.driver(version: 13000), let path = try FakeLibraries.backend(),
              case .success(let library) = CUDALibrary.load(path: path, driverLibrary: driver) else { return }
        let c = LlamaConfig(numLayers: 1, hiddenSize: 96, numHeads: 3, numKVHeads: 1, intermediateSize: 64, vocabSize: 50,
                            contextLength: 64, ropeBase: 10_000, rmsEpsilon: 1e-5, tiedEmbeddings: true)
        #expect(throws: BenchError.unavailable("the CUDA backend could not start: head dimension 32 is not supported")) {
            _ = try CUDAModel(library: library, config: c, weights: .synthetic(seed: 0))
        }
    }

    @Test func theBackendDrawsTheCPUSamplersNumbers() {
        let s = SamplingParams(temperature: 0.8, topK: 0, topP: 0.9, seed: 1234)
        var rng = SeededRNG(seed: 1234, stream: 0x5A4D_504C, index: 3)
        #expect(s.uniform(forToken: 3) == rng.uniform())
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
