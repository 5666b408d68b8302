import ArgumentParser
import BenchCore
import Foundation
import Harness

struct K8sCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "k8s",
        abstract: "Write Kubernetes manifests that run a load generator split over several nodes and merge the results.",
        subcommands: [K8sRun.self])
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

    @Option(name: .long, help: "Name of the run (the Jobs, the volume, the results folder).")
    var name = "accelbench"
    @Option(name: .long, help: "Number of segments: pods, one per node.")
    var segments: Int
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
    @Option(name: .long, help: "Seconds from every segment being ready to the common start (default 15).")
    var startDelay = 15
    @Option(name: [.short, .customLong("output")], help: "Directory for the manifests.")
    var output: String
    @Argument(parsing: .postTerminator, help: "The `accelbench run` flags, after `--`.")
    var runArguments: [String] = []

    func run() throws {
        try guarded {
            var k = KubernetesRun(name: name, segments: segments, image: image, runArguments: runArguments)
            k.namespace = namespace
            k.cpu = cpu
            k.memory = memory
            k.storage = storage
            k.storageClass = storageClass
            k.startDelayS = startDelay
            if let p = k.problem() { throw BenchError.usage(p) }
            // The run flags must be ones `run` accepts: checked here, not in a pod later.
            do { _ = try Run.parse(runArguments + ["--segment", "0/\(segments)"]) } catch {
                throw BenchError.usage("the run arguments: \(Run.message(for: error))")
            }
            try FileIO.makeDirectories(output)
            for (file, text) in k.files() { try FileIO.writeAtomically(Array(text.utf8), to: output + "/" + file) }
            print("wrote \(k.files().map(\.0).joined(separator: ", ")) to \(output); build the image, then: kubectl apply -k \(output)")
        }
    }
}
