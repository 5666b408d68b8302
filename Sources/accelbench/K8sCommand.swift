import ArgumentParser
import BenchCore
import Foundation
import Harness

struct K8sCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8s",
        abstract: "Write Kubernetes manifests that split a load generator or a sweep over several nodes and merge the results.",
        subcommands: [K8sRun.self, K8sSweep.self])
}

/// What the manifests of `k8s run` and `k8s sweep` share: names, resources, the volume.
struct K8sFlags: ParsableArguments {
    @Option(name: .long, help: "Name of the run (the Jobs, the volume, the results folder).")
    var name = "accelbench"
    @Option(name: .long, help: "Container image with accelbench (build it with DIR/Dockerfile).")
    var image: String
    @Option(name: .long, help: "Namespace of the objects (default: the kubectl context's).")
    var namespace: String?
    @Option(name: .long, help: "CPU request per pod (default 2).")
    var cpu = "2"
    @Option(name: .long, help: "Memory request and limit per pod (default 2Gi).")
    var memory = "2Gi"
    @Option(name: .long, help: "Size of the results volume (default 10Gi).")
    var storage = "10Gi"
    @Option(name: .long, help: "Storage class of the results volume (it must offer ReadWriteMany).")
    var storageClass: String?
    @Option(name: [.short, .customLong("output")], help: "Directory for the manifests.")
    var output: String

    /// Checks the manifests and the command the pods will run (here, not in a pod later), and writes them.
    func write(_ k: KubernetesRun, check: () throws -> Void, message: (Error) -> String) throws {
        var k = k
        k.namespace = namespace
        k.cpu = cpu
        k.memory = memory
        k.storage = storage
        k.storageClass = storageClass
        if let p = k.problem() { throw BenchError.usage(p) }
        do { try check() } catch { throw BenchError.usage("the \(k.mode.rawValue) arguments: \(message(error))") }
        try FileIO.makeDirectories(output)
        for (file, text) in k.files() { try FileIO.writeAtomically(Array(text.utf8), to: output + "/" + file) }
        print("wrote \(k.files().map(\.0).joined(separator: ", ")) to \(output); build the image, then: kubectl apply -k \(output)")
    }
}

struct K8sRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Manifests for `accelbench run --endpoint …` split into N segments, one pod per node.",
        discussion: """
        Writes DIR/pvc.yaml (the results volume, ReadWriteMany), DIR/segments-job.yaml (an Indexed Job: pod k runs \
        segment k/N after a start barrier on the volume; backoffLimit 0, one pod per node), DIR/merge-job.yaml \
        (merges the segments into /results/NAME/merged), DIR/kustomization.yaml and DIR/Dockerfile (the image). The run's own flags \
        follow `--`, as `accelbench run` takes them: accelbench k8s run --segments 4 --image IMG -o k8s -- \
        --endpoint http://vllm:8000 --model M --spec workloads/mixed-slo.yaml. Apply with kubectl apply -k DIR.
        """)

    @Option(name: .long, help: "Number of segments: pods, one per node.")
    var segments: Int
    @Option(name: .long, help: "Seconds from every segment being ready to the common start (default 15).")
    var startDelay = 15
    @OptionGroup var k8s: K8sFlags
    @Argument(parsing: .postTerminator, help: "The `accelbench run` flags, after `--`.")
    var runArguments: [String] = []

    func run() throws {
        try guarded {
            var k = KubernetesRun(name: k8s.name, segments: segments, image: k8s.image, runArguments: runArguments)
            k.startDelayS = startDelay
            try k8s.write(k, check: { _ = try Run.parse(runArguments + ["--segment", "0/\(segments)"]) }, message: Run.message(for:))
        }
    }
}

struct K8sSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Manifests for an engine `accelbench sweep --rates …` split into N shares of its grid, one pod per node.",
        discussion: """
        Writes DIR/pvc.yaml, DIR/points-job.yaml (an Indexed Job: pod k runs sweep --points k/N, the k-th, \
        (k+N)-th, … lowest rates; backoffLimit 0, one pod per node), DIR/merge-job.yaml (sweep --merge of the \
        shares into /results/NAME/merged), DIR/kustomization.yaml and DIR/Dockerfile. The sweep's own flags follow \
        `--`: accelbench k8s sweep --points 4 --image IMG -o k8s -- --spec workloads/mixed-slo.yaml --rates 1:16:1 \
        --policy sarathi --oracle. Endpoint sweeps are refused: their rates must reach the server one at a time.
        """)

    @Option(name: .long, help: "Number of shares of the grid: pods, one per node.")
    var points: Int
    @OptionGroup var k8s: K8sFlags
    @Argument(parsing: .postTerminator, help: "The `accelbench sweep` flags, after `--`.")
    var sweepArguments: [String] = []

    func run() throws {
        try guarded {
            var k = KubernetesRun(name: k8s.name, segments: points, image: k8s.image, runArguments: sweepArguments)
            k.mode = .sweep
            try k8s.write(k, check: { _ = try SweepCommand.parse(sweepArguments + ["--points", "0/\(points)", "-o", "/results"]) },
                          message: SweepCommand.message(for:))
        }
    }
}
