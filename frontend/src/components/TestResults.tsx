import type { Evaluation } from "../api/client";
import { formatDuration } from "../lib/time";

/** Each test case with its verdict, once judged; nothing for an evaluation without tests. */
export function TestResults({ evaluation }: { evaluation: Evaluation }) {
  const results = evaluation.test_results ?? [];
  const cases = evaluation.tests ?? [];
  if (cases.length === 0 && results.length === 0) return null;
  return (
    <section className="test-results" aria-labelledby="tests-heading">
      <h3 id="tests-heading">
        Tests{" "}
        {evaluation.tests_total !== null && evaluation.tests_total !== undefined ? (
          <span className="muted">
            {evaluation.tests_passed} of {evaluation.tests_total} passed
          </span>
        ) : (
          <span className="muted">{cases.length} not judged yet</span>
        )}
      </h3>
      {(evaluation.flags ?? []).length > 0 && (
        <p className="flags" role="note">
          Flagged: {(evaluation.flags ?? []).map((flag) => flag.replaceAll("_", " ")).join(", ")}
        </p>
      )}
      {results.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Name</th>
              <th scope="col">Verdict</th>
              <th scope="col">Message</th>
              <th scope="col">Time</th>
              <th scope="col">CPU</th>
            </tr>
          </thead>
          <tbody>
            {results.map((result) => (
              <tr key={result.index}>
                <td>{result.index}</td>
                <td>{result.name ?? ""}</td>
                <td>
                  <span className={`badge badge-${result.verdict}`}>{result.verdict.replaceAll("_", " ")}</span>
                </td>
                <td>
                  {result.message && <pre className="message">{result.message}</pre>}
                  {(result.stdout || result.stderr) && (
                    <details>
                      <summary>Output</summary>
                      {result.stdout && <pre>{result.stdout}</pre>}
                      {result.stderr && <pre className="stderr">{result.stderr}</pre>}
                    </details>
                  )}
                </td>
                <td>{formatDuration(result.duration_ms ?? 0)}</td>
                <td>{formatDuration(result.cpu_ms ?? 0)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {evaluation.provenance && (
        <p className="muted provenance">
          Judged by harness {evaluation.provenance.harness_version}
          {evaluation.provenance.python_version && ` on Python ${evaluation.provenance.python_version}`}
          {evaluation.provenance.image && `, image ${evaluation.provenance.image}`}
          {evaluation.provenance.image_digest && ` (${evaluation.provenance.image_digest.slice(0, 19)})`}, limits{" "}
          {evaluation.provenance.timeout_seconds} s and {evaluation.provenance.memory_mb} MB
        </p>
      )}
    </section>
  );
}
