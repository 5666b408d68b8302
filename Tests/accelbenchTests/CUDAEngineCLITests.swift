import BenchCore
import Foundation
import Testing

/// `--engine cuda` where it cannot run: the loader's message and exit 69 (EX_UNAVAILABLE), for
/// `run` and `serve` alike, before any results directory or port exists.
@Suite struct CUDAEngineCLITests {
    @Test func aMissingLibraryEndsWithItsMessageAndExit69() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cuda").path
        for args in [["run", "--engine", "cuda", "--spec", "workloads/smoke.yaml", "--count", "2", "-o", out],
                     ["serve", "--engine", "cuda", "--port", "0"]] {
            let r = try CLI.run(args + ["--cuda-library", "/nonexistent/libaccelbench_cuda.so", "--synthetic-weights", "llama3-8b"])
            #expect(r.status == 69, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("CUDA backend library not found at /nonexistent/libaccelbench_cuda.so; build it with ./run.sh cuda"), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func cudaFlagsNeedTheCudaEngine() throws {
        let r = try CLI.run(["run", "--engine", "sim", "--no-cuda-graphs"])
        #expect(r.status == 64 && r.stderr.contains("--cuda-library and --no-cuda-graphs need --engine cuda"), "\(r.stderr)")
    }
}
