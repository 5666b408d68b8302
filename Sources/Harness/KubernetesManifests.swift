import BenchCore
import Foundation

/// Kubernetes manifests for a run split over N load generators (`accelbench k8s run`): an
/// Indexed Job whose pod k runs segment k/N (`JOB_COMPLETION_INDEX`), one pod per node, a start
/// barrier on the shared results volume, and a Job that merges the segments. A sweep
/// (`accelbench k8s sweep`) is split the same way: pod k runs share k/N of the grid, with no
/// barrier (its rates are separate runs), and the merge joins the shares. Kubernetes does the
/// scheduling; accelbench only writes what it should run.
public struct KubernetesRun: Sendable {
    public enum Mode: String, Sendable {
        /// `accelbench run --segment k/N` against an endpoint.
        case run
        /// `accelbench sweep --points k/N`, on the bundled engine.
        case sweep
    }

    public var mode: Mode = .run
    /// Job name prefix (DNS-1123 label: lowercase letters, digits, '-'; at most 52 characters, so
    /// the pods' generated names fit).
    public var name: String
    public var segments: Int
    public var image: String
    public var namespace: String?
    /// `accelbench run` arguments (an endpoint run), without -o, --segment or --start-at; or
    /// `accelbench sweep` arguments (an engine sweep over --rates), without -o, --points or --merge.
    public var runArguments: [String]
    /// Per pod. Defaults (our choice): two cores, one for the sending thread and one for the
    /// writer and the kernel's network work; 2 GiB, far above a segment's records in memory.
    public var cpu = "2"
    public var memory = "2Gi"
    /// The results volume: ReadWriteMany, since segments on several nodes write to it.
    public var storage = "10Gi"
    public var storageClass: String?
    /// Seconds from "every segment is ready" to the common start: long enough for the last pod to
    /// read the start instant (our choice).
    public var startDelayS = 15
    /// How long the merge waits for every segment to end before merging what is there.
    public var mergeTimeoutS = 86_400

    public init(name: String, segments: Int, image: String, runArguments: [String]) {
        self.name = name
        self.segments = segments
        self.image = image
        self.runArguments = runArguments
    }

    /// What makes these manifests wrong, if anything.
    public func problem() -> String? {
        let okChars = name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
        if name.isEmpty || name.count > 52 || !okChars || name.hasPrefix("-") || name.hasSuffix("-") {
            return "--name '\(name)' must be 1 to 52 lowercase letters, digits or '-', not starting or ending with '-'"
        }
        if segments < 1 || segments > 10_000 { return "--segments must be 1 to 10,000" }
        if image.isEmpty { return "--image is needed" }
        if startDelayS < 1 { return "--start-delay must be at least 1 s" }
        let reserved = mode == .run ? ["-o", "--output", "--segment", "--start-at"] : ["-o", "--output", "--points", "--merge"]
        for a in runArguments {
            let flag = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if reserved.contains(flag) {
                return "the \(mode.rawValue) arguments must not set \(flag): each pod's share and output are the manifests' to set"
            }
        }
        func has(_ flag: String) -> Bool { runArguments.contains { $0 == flag || $0.hasPrefix(flag + "=") } }
        switch mode {
        case .run:
            if !has("--endpoint") { return "the run arguments need --endpoint (segments split a load generator)" }
        case .sweep:
            // Shares run at once: against one server they would load it with several rates together.
            if has("--endpoint") { return "k8s sweep splits engine sweeps; an endpoint sweep's rates must run one at a time against the server (use sweep --endpoint on one machine, or k8s run per rate)" }
            if !has("--rates") { return "the sweep arguments need --rates (the grid the pods share)" }
            if has("--search") { return "a --search probes one rate after another and cannot be split over pods" }
        }
        return nil
    }

    /// The Indexed Job's file: segments-job.yaml for a run, points-job.yaml for a sweep.
    public var jobFile: String { mode == .run ? "segments-job.yaml" : "points-job.yaml" }

    /// File name → contents.
    public func files() -> [(String, String)] {
        [("pvc.yaml", YAMLText.document(pvc())), (jobFile, YAMLText.document(segmentsJob())),
         ("merge-job.yaml", YAMLText.document(mergeJob())),
         ("kustomization.yaml", YAMLText.document(.object([
            ("apiVersion", .string("kustomize.config.k8s.io/v1beta1")), ("kind", .string("Kustomization")),
            ("resources", .array([.string("pvc.yaml"), .string(jobFile), .string("merge-job.yaml")])),
         ]))),
         ("Dockerfile", KubernetesRun.dockerfile)]
    }

    var directory: String { "/results/\(name)" }

    func metadata(_ suffix: String) -> JSONValue {
        var m: [(String, JSONValue)] = [("name", .string(name + suffix))]
        if let namespace { m.append(("namespace", .string(namespace))) }
        m.append(("labels", .object([("app.kubernetes.io/name", .string("accelbench")), ("accelbench/run", .string(name))])))
        return .object(m)
    }

    func pvc() -> JSONValue {
        var spec: [(String, JSONValue)] = [
            ("accessModes", .array([.string("ReadWriteMany")])),
            ("resources", .object([("requests", .object([("storage", .string(storage))]))])),
        ]
        if let storageClass { spec.append(("storageClassName", .string(storageClass))) }
        return .object([("apiVersion", .string("v1")), ("kind", .string("PersistentVolumeClaim")),
                        ("metadata", metadata("-results")), ("spec", .object(spec))])
    }

    /// A run's pod marks itself ready on the volume, waits for all N, and pod 0 sets one start
    /// instant `startDelayS` ahead; then each runs its segment from that instant and records its
    /// exit code. A sweep's pod runs its share at once. `backoffLimit: 0`: a restarted load
    /// generator would send its share twice, and a restarted share would redo its rates.
    func podScript() -> String {
        let command = (["accelbench", mode.rawValue] + runArguments).map(YAMLText.shellQuoted).joined(separator: " ")
        switch mode {
        case .run:
            return """
            set -u
            D=\(directory); B=$D/barrier; I=$JOB_COMPLETION_INDEX; N=\(segments)
            mkdir -p $B && touch $B/ready-$I
            while [ "$(ls $B | grep -c '^ready-')" -lt $N ]; do sleep 0.5; done
            if [ "$I" = 0 ] && [ ! -f $B/start-at ]; then echo $(( $(date +%s) + \(startDelayS) )) > $B/start-at.tmp && mv $B/start-at.tmp $B/start-at; fi
            while [ ! -f $B/start-at ]; do sleep 0.2; done
            \(command) --segment $I/$N --start-at "$(cat $B/start-at)" -o $D/segment-$I
            rc=$?; echo $rc > $B/exit-$I; exit $rc
            """
        case .sweep:
            return """
            set -u
            D=\(directory); B=$D/barrier; I=$JOB_COMPLETION_INDEX; N=\(segments)
            mkdir -p $B
            \(command) --points $I/$N -o $D/share-$I
            rc=$?; echo $rc > $B/exit-$I; exit $rc
            """
        }
    }

    func segmentsJob() -> JSONValue {
        let script = podScript()
        let labels = JSONValue.object([("accelbench/run", .string(name)), ("accelbench/role", .string(mode == .run ? "segment" : "share"))])
        let antiAffinity = JSONValue.object([("podAntiAffinity", .object([
            ("requiredDuringSchedulingIgnoredDuringExecution", .array([.object([
                ("labelSelector", .object([("matchLabels", labels)])),
                ("topologyKey", .string("kubernetes.io/hostname")),
            ])])),
        ]))])
        let pod = JSONValue.object([
            ("restartPolicy", .string("Never")),
            ("affinity", antiAffinity),
            ("containers", .array([container(script)])),
            ("volumes", volumes()),
        ])
        return .object([("apiVersion", .string("batch/v1")), ("kind", .string("Job")), ("metadata", metadata(mode == .run ? "-segments" : "-points")),
                        ("spec", .object([
                            ("completionMode", .string("Indexed")),
                            ("completions", .number(Double(segments))),
                            ("parallelism", .number(Double(segments))),
                            ("backoffLimit", .number(0)),
                            ("template", .object([("metadata", .object([("labels", labels)])), ("spec", pod)])),
                        ]))])
    }

    /// Waits for every segment's exit code (or the timeout), then merges what is there.
    func mergeJob() -> JSONValue {
        let script = """
        set -u
        D=\(directory); B=$D/barrier; N=\(segments); END=$(( $(date +%s) + \(mergeTimeoutS) ))
        while [ "$(ls $B 2>/dev/null | grep -c '^exit-')" -lt $N ] && [ "$(date +%s)" -lt $END ]; do sleep 2; done
        \(mode == .run ? "accelbench merge $(ls -d $D/segment-*)" : "accelbench sweep --merge $(ls -d $D/share-*)") -o $D/merged
        """
        let pod = JSONValue.object([("restartPolicy", .string("Never")), ("containers", .array([container(script)])), ("volumes", volumes())])
        return .object([("apiVersion", .string("batch/v1")), ("kind", .string("Job")), ("metadata", metadata("-merge")),
                        ("spec", .object([("backoffLimit", .number(0)), ("template", .object([("spec", pod)]))]))])
    }

    func container(_ script: String) -> JSONValue {
        .object([
            ("name", .string("accelbench")),
            ("image", .string(image)),
            ("command", .array([.string("/bin/sh"), .string("-c"), .string(script)])),
            ("resources", .object([("requests", .object([("cpu", .string(cpu)), ("memory", .string(memory))])),
                                   ("limits", .object([("memory", .string(memory))]))])),
            ("volumeMounts", .array([.object([("name", .string("results")), ("mountPath", .string("/results"))])])),
        ])
    }

    func volumes() -> JSONValue {
        .array([.object([("name", .string("results")),
                         ("persistentVolumeClaim", .object([("claimName", .string(name + "-results"))]))])])
    }

    /// The image: accelbench built from this repository (static Swift runtime) on Debian 12, with
    /// the shared libraries it loads and the shipped workloads.
    public static let dockerfile = """
    # The accelbench image for `accelbench k8s` manifests. Build from the repository root:
    #   docker build -f DIR/Dockerfile -t IMAGE .   and push IMAGE where the cluster can pull it.
    ARG SWIFT_IMAGE=swift:6.3-bookworm
    FROM ${SWIFT_IMAGE} AS build
    RUN apt-get update && apt-get install -y --no-install-recommends \\
          libcurl4-openssl-dev libopenblas-dev coinor-libclp-dev coinor-libcbc-dev pkg-config && rm -rf /var/lib/apt/lists/*
    WORKDIR /src
    COPY . .
    RUN swift build -c release --product accelbench --static-swift-stdlib

    FROM debian:bookworm-slim
    RUN apt-get update && apt-get install -y --no-install-recommends \\
          libcurl4 libopenblas0 coinor-libclp1 coinor-libcbc3 ca-certificates && rm -rf /var/lib/apt/lists/*
    COPY --from=build /src/.build/release/accelbench /usr/local/bin/accelbench
    COPY --from=build /src/workloads /opt/accelbench/workloads
    WORKDIR /opt/accelbench

    """
}

/// A minimal YAML writer for manifests: block mappings and sequences, every string double-quoted
/// in JSON's escaping (valid YAML), numbers and booleans bare.
enum YAMLText {
    static func document(_ v: JSONValue) -> String {
        var out = ""
        write(v, indent: 0, into: &out)
        return out
    }

    static func write(_ v: JSONValue, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch v {
        case .object(let pairs):
            for (k, x) in pairs {
                if isBlock(x) {
                    out += "\(pad)\(k):\n"
                    write(x, indent: indent + 2, into: &out)
                } else {
                    out += "\(pad)\(k): \(scalar(x))\n"
                }
            }
        case .array(let items):
            for x in items {
                if isBlock(x) {
                    var inner = ""
                    write(x, indent: indent + 2, into: &inner)
                    out += pad + "- " + inner.dropFirst(indent + 2)
                } else {
                    out += "\(pad)- \(scalar(x))\n"
                }
            }
        default:
            out += pad + scalar(v) + "\n"
        }
    }

    static func isBlock(_ v: JSONValue) -> Bool {
        switch v {
        case .object(let p): return !p.isEmpty
        case .array(let a): return !a.isEmpty
        default: return false
        }
    }

    static func scalar(_ v: JSONValue) -> String {
        switch v {
        case .object: return "{}"
        case .array: return "[]"
        default:
            var w = JSONWriter()
            v.write(to: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        }
    }

    /// `s` as one word for /bin/sh.
    static func shellQuoted(_ s: String) -> String {
        if !s.isEmpty && s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || "-_./:=,@%+".utf8.contains($0) }) {
            return s
        }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
