import BenchCore
import Foundation
import Reporting
import Testing
@testable import Plotting

/// gnuplot is installed by ./run.sh (gnuplot-nox), so these tests run it for real.
@Suite struct PlotTests {
    @Test func embeddedTemplatesEqualThePlotsDirectory() throws {
        let dir = repoRoot + "/plots"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".gp") }.sorted()
        #expect(files.map { String($0.dropLast(3)) } == PlotTemplates.builtIn.keys.sorted(),
                "plots/ and the embedded copy name different templates: run scripts/embed-plot-templates.sh")
        #expect(Set(files.map { String($0.dropLast(3)) }) == Set(Figure.allCases.map(\.rawValue)))
        for f in files {
            let bytes = try FileIO.readFile(dir + "/" + f)
            #expect(Array(PlotTemplates.builtIn[String(f.dropLast(3))]!.utf8) == bytes,
                    "plots/\(f) differs from its embedded copy: run scripts/embed-plot-templates.sh")
        }
    }

    @Test(arguments: Figure.allCases)
    func figureRendersAPNG(_ figure: Figure) throws {
        let fx = try Fixtures.get()
        let (runs, sweeps) = try Plotter.loadInputs(fx.runs + fx.sweeps)
        let out = try TempDir()
        let plotter = Plotter(runs: runs, sweeps: sweeps, format: .png, gnuplot: try GnuplotRunner())
        let outcome = try plotter.render(into: out.path, selection: [figure])
        // Two runs: per-run figures are drawn once per run.
        let perRun: Set<Figure> = [.timeline, .gantt, .serverMetrics]
        let expected = perRun.contains(figure) ? 2 : 1
        #expect(outcome.figures.count == expected, "\(outcome.notes)")
        #expect(outcome.notes.isEmpty)
        for f in outcome.figures {
            let bytes = try FileIO.readFile(f.image)
            let size = try #require(pngSize(bytes), "\(f.image) is not a PNG")
            #expect(size.width > 0 && size.height > 0)
            let empty = try emptyPlotBytes(width: size.width, height: size.height)
            #expect(bytes.count > empty + 2000, "\(f.name): \(bytes.count) bytes, empty axes \(empty)")
            #expect(FileIO.exists(f.script) && FileIO.exists(f.data))
        }
        if perRun.contains(figure) {
            #expect(Set(outcome.figures.map(\.name)) == ["\(figure.rawValue)-accelgen", "\(figure.rawValue)-vllm"])
        } else {
            #expect(outcome.figures[0].name == figure.rawValue)
        }
    }

    @Test func figuresThatDoNotApplyAreSkippedWithANote() throws {
        let fx = try Fixtures.get()
        let (runs, sweeps) = try Plotter.loadInputs([fx.runs[0]])
        let out = try TempDir()
        let outcome = try Plotter(runs: runs, sweeps: sweeps, gnuplot: try GnuplotRunner()).render(into: out.path)
        #expect(Set(outcome.figures.map(\.name)) == ["ttft-cdf", "tbt-cdf", "timeline", "gantt", "server-metrics"])
        #expect(outcome.notes.count == 4)
        #expect(outcome.notes.contains { $0.hasPrefix("policy-bars: skipped") })
        #expect(outcome.notes.contains { $0.hasPrefix("goodput-vs-rate: skipped") })
    }

    @Test func writtenScriptRedrawsTheFigureInItsDirectory() throws {
        let fx = try Fixtures.get()
        let (runs, _) = try Plotter.loadInputs(fx.runs)
        let out = try TempDir()
        let outcome = try Plotter(runs: runs, sweeps: [], gnuplot: try GnuplotRunner()).render(into: out.path, selection: [.ttftCDF, .policyBars])
        for f in outcome.figures {
            let first = try FileIO.readFile(f.image)
            try FileIO.removeFile(f.image)
            let r = try runProcess(GnuplotRunner().executable, [f.name + ".gp"], in: out.path)
            #expect(r.status == 0, "\(r.stderr)")
            let again = try FileIO.readFile(f.image)
            #expect(pngSize(again) != nil && pngSize(again)! == pngSize(first)!)
        }
    }

    @Test func svgAndPDFFormats() throws {
        let fx = try Fixtures.get()
        let (runs, _) = try Plotter.loadInputs([fx.runs[0]])
        for format in [PlotFormat.svg, .pdf] {
            let out = try TempDir()
            let outcome = try Plotter(runs: runs, sweeps: [], format: format, gnuplot: try GnuplotRunner())
                .render(into: out.path, selection: [.tbtCDF])
            let bytes = try FileIO.readFile(try #require(outcome.figures.first).image)
            let head = String(decoding: bytes.prefix(200), as: UTF8.self)
            #expect(format == .svg ? head.contains("<svg") : head.hasPrefix("%PDF"))
        }
    }

    /// A template with a misspelt keyword: gnuplot's own message, the script's path and line,
    /// and an error (exit code 74 through the CLI).
    @Test func brokenTemplateSurfacesGnuplotsMessage() throws {
        let fx = try Fixtures.get()
        let templates = try TempDir()
        let good = PlotTemplates.builtIn["ttft-cdf"]!
        let broken = good.replacingOccurrences(of: "with steps lw 2", with: "wiht steps lw 2")
        #expect(broken != good)
        try FileIO.writeAtomically(Array(broken.utf8), to: templates.file("ttft-cdf.gp"))
        let (runs, _) = try Plotter.loadInputs([fx.runs[0]])
        let out = try TempDir()
        let plotter = Plotter(runs: runs, sweeps: [], templates: PlotTemplates(overrideDirectory: templates.path), gnuplot: try GnuplotRunner())
        var caught: BenchError?
        do { _ = try plotter.render(into: out.path, selection: [.ttftCDF]) } catch { caught = error }
        let error = try #require(caught)
        let text = error.description
        #expect(error.exitCode == ExitCodes.ioError)
        #expect(text.contains(out.file("ttft-cdf.gp")), "\(text)")
        #expect(text.contains("unexpected or unrecognized token: wiht"), "\(text)")
        #expect(text.contains("wiht steps lw 2 lc r"), "gnuplot's echo of the failing command: \(text)")
        // The line number in the written script where the failing command starts.
        let lines = try String(decoding: FileIO.readFile(out.file("ttft-cdf.gp")), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let n = try #require(lines.firstIndex { $0.contains("wiht steps") }) + 1
        #expect(text.contains("at script line \(n)"), "\(text)")

        // The same through the command line: non-zero exit, gnuplot's message on stderr.
        let binary = try #require(accelbenchBinary(), "the accelbench binary is built with the tests")
        let cli = try runProcess(binary, ["plot", fx.runs[0], "-o", out.file("cli"), "--figures", "ttft-cdf", "--templates", templates.path], in: repoRoot)
        #expect(cli.status == ExitCodes.ioError, "\(cli.stderr)")
        #expect(cli.stderr.contains("unexpected or unrecognized token: wiht") && cli.stderr.contains("ttft-cdf.gp"), "\(cli.stderr)")
    }

    /// gnuplot 5.4 exits 1 on errors in a script on stdin; a gnuplot that reports an error on
    /// stderr but exits 0 must fail the figure too.
    @Test func errorOnStderrFailsEvenWithExitStatusZero() throws {
        let dir = try TempDir()
        let fake = dir.file("gnuplot")
        let text = "#!/bin/sh\ncat >/dev/null\necho '         line 3: undefined variable: foo' >&2\nexit 0\n"
        try FileIO.writeAtomically(Array(text.utf8), to: fake)
        chmod(fake, 0o755)
        var caught: BenchError?
        do { _ = try GnuplotRunner(executable: fake).run(script: "plot foo\n", in: dir.path, scriptPath: dir.file("x.gp")) } catch { caught = error }
        #expect(caught?.description.contains("undefined variable: foo") == true)
        // And the real gnuplot's exit status on a script error.
        var real: BenchError?
        do { _ = try GnuplotRunner().run(script: "set terminal svg\nset output 'x.svg'\nplot sin(x) wiht lines\n", in: dir.path, scriptPath: dir.file("x.gp")) } catch { real = error }
        #expect(real?.description.contains("exit status 1") == true, "\(String(describing: real))")
        #expect(GnuplotRunner.errorLines("         line 0: warning: Skipping data file with no valid points\n").isEmpty)
    }

    @Test func htmlReportIsSelfContained() throws {
        let fx = try Fixtures.get()
        let reader = try ResultsReader(directory: fx.runs[0])
        let summary = try reader.summarize(options: MetricsOptions())
        let (runs, sweeps) = try Plotter.loadInputs([fx.runs[0]])
        let (figures, notes) = try HTMLReport.figures(runs: runs, sweeps: sweeps, selection: [.ttftCDF, .tbtCDF, .timeline, .gantt],
                                                      templates: PlotTemplates(), gnuplot: try GnuplotRunner())
        #expect(figures.count == 4 && notes.isEmpty)
        let page = HTMLReport.results(summary: summary, directory: fx.runs[0], recovered: false, figures: figures, notes: notes)
        checkSelfContained(page, svgs: 4)
        #expect(page.contains("<th>goodput req/s</th>") && page.contains("<td>all</td>"))
        for c in ["chat", "summarization", "code", "translation"] { #expect(page.contains("<td>\(c)</td>")) }

        let (_, sw) = try Plotter.loadInputs([fx.sweeps[0]])
        let (sweepFigures, _) = try HTMLReport.figures(runs: [], sweeps: sw, selection: [.attainmentVsRate, .goodputVsRate, .throughputVsRate],
                                                       templates: PlotTemplates(), gnuplot: try GnuplotRunner())
        let sweepPage = HTMLReport.sweep(sw[0], figures: sweepFigures, notes: [])
        checkSelfContained(sweepPage, svgs: 3)
        #expect(sweepPage.contains("<th>oracle attain</th>") && sweepPage.contains("<td>rate-12</td>"))
    }

    func checkSelfContained(_ page: String, svgs: Int) {
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.components(separatedBy: "<svg").count - 1 == svgs)
        #expect(page.contains("<table"))
        for bad in ["src=\"http", "href=\"http", "src='http", "href='http", "<script", "<link", "<img", "@import"] {
            #expect(!page.contains(bad), "external reference \(bad)")
        }
        // Every id inside a figure carries its figure's prefix, so one figure's references
        // (`href='#gpPt1'`) cannot land in another's definitions.
        for svg in page.components(separatedBy: "<svg").dropFirst() {
            let body = svg.components(separatedBy: "</svg>")[0]
            let ids = body.matches(of: /id=['"]([^'"]+)['"]/).map { String($0.1) }
            let refs = body.matches(of: /href=['"]#([^'"]+)['"]/).map { String($0.1) }
            let prefix = ids.first.map { String($0.prefix { $0 != "-" }) } ?? ""
            #expect(prefix.hasPrefix("fig") && (ids + refs).allSatisfy { $0.hasPrefix(prefix + "-") })
        }
    }

    @Test func labelsComeFromPolicyAndAblations() {
        #expect(RunLabels.fromTarget("engine:sim profile=h100-llama2-7b policy=accelgen ablations=no-dynamic-chunking") == "accelgen (no-dynamic-chunking)")
        #expect(RunLabels.fromTarget("engine:sim profile=p policy=edf") == "edf")
        #expect(RunLabels.fromTarget("endpoint:http://x/v1 model=m") == nil)
        let labels = RunLabels.assign([
            ("engine:sim profile=p policy=accelgen", "/tmp/a/accelgen"),
            ("engine:sim profile=p policy=accelgen", "/tmp/a/accelgen-nodc/"),
            ("engine:sim profile=p policy=vllm", "/tmp/a/v"),
            ("endpoint:http://x model=m", "/tmp/b/remote"),
        ])
        #expect(labels == ["accelgen", "accelgen-nodc", "vllm", "remote"])
        #expect(Plotter.slug("accelgen (no-dynamic-chunking)") == "accelgen-no-dynamic-chunking")
    }

    @Test func sweepContractParses() throws {
        let text = """
        {"schema":"accelbench.sweep/1","spec":"mixed-slo","target":"engine:sim profile=h100-llama2-7b policy=accelgen","seed":42,"count":300,
         "classes":["chat","summarization","code","translation"],
         "points":[{"rate_rps":4,"dir":"rate-4","attainment":0.9,"goodput_rps":3.6,"goodput_tokens_per_s":1400.1,"throughput_rps":3.9,"output_tokens_per_s":1500.0,
                    "by_class":{"chat":{"attainment":1.0,"goodput_rps":0.4}}},
                   {"rate_rps":1,"dir":"rate-1","attainment":0.99,"goodput_rps":0.98,"goodput_tokens_per_s":400.1,"throughput_rps":0.99,"output_tokens_per_s":410.0,
                    "by_class":{"chat":{"attainment":1.0,"goodput_rps":0.4}},
                    "oracle":{"upper_bound_attainment":1.0,"upper_bound_goodput_rps":1.0}}],
         "search":{"target_attainment":0.9,"class":null,"capacity_rps":7.3,"by_class":{"chat":8.1}}}
        """
        let s = SweepInput(directory: "/tmp/sweeps/accelgen", contents: try SweepFile.parse(JSONParser.parse(text), file: "sweep.json"))
        #expect(s.points.map(\.rateRps) == [1, 4])
        #expect(s.points[0].oracleGoodputRps == 1.0 && s.points[1].oracleGoodputRps == nil)
        #expect(s.search == SweepFile.Contents.Search(targetAttainment: 0.9, className: nil, capacityRps: 7.3, classCapacityRps: ["chat": 8.1]))
        #expect(s.classes == ["chat", "summarization", "code", "translation"])
        #expect(s.label == "accelgen" && s.spec == "mixed-slo")
        // Hand-made files may leave out spec and target: the directory's name and "unknown".
        let bare = SweepInput(directory: "/tmp/sweeps/bare/", contents: try SweepFile.parse(JSONParser.parse(#"{"schema":"accelbench.sweep/1","points":[]}"#), file: "f"))
        #expect(bare.spec == "bare" && bare.target == "unknown" && bare.points.isEmpty && bare.search == nil)
        #expect(throws: BenchError.self) { try SweepFile.parse(JSONParser.parse(#"{"schema":"other/1","points":[]}"#), file: "f") }
    }

    @Test func unknownPlaceholderIsNamed() {
        #expect(throws: BenchError.data("t.gp", "unknown placeholder {{NOPE}}; this figure fills: A")) {
            try PlotTemplates.fill("x {{A}} {{NOPE}}", values: ["A": "1"], source: "t.gp")
        }
        #expect((try? PlotTemplates.fill("a {{A}} b", values: ["A": "1"], source: "t")) == "a 1 b")
    }

    @Test func cdfPointsAreBoundedAndEndAtOne() {
        let values = (1...10_000).map { Double($0) }
        let pts = FigureBuilder.cdfPoints(values, max: 1000)
        #expect(pts.count <= 1001 && pts.last! == (10_000, 1.0))
        let ties = FigureBuilder.cdfPoints([0, 0, 5, 5, 7], max: 1000)
        #expect(ties.map(\.0) == [5, 7] && ties.map(\.1) == [0.8, 1.0])
    }
}

/// The accelbench binary next to the test bundle (same build folder and configuration).
func accelbenchBinary() -> String? {
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for dir in [bundleDir, bundleDir.deletingLastPathComponent(), URL(fileURLWithPath: repoRoot + "/.build/debug")] {
        let candidate = dir.appendingPathComponent("accelbench").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
