import type { EvaluationCreate } from "../api/client";

type Case = NonNullable<EvaluationCreate["tests"]>[number];

const isCodeCase = (testCase: Case): testCase is Extract<Case, { code: string }> => "code" in testCase;

/** The draft's test cases: stdout cases (stdin and expected output) or code cases (Python asserts). */
export function TestCasesEditor(props: {
  tests: Case[];
  stopOnFirstFailure: boolean;
  onChange: (tests: Case[]) => void;
  onStopChange: (stop: boolean) => void;
}) {
  const { tests, stopOnFirstFailure, onChange, onStopChange } = props;
  const replace = (index: number, testCase: Case) => onChange(tests.map((t, i) => (i === index ? testCase : t)));
  return (
    <fieldset className="test-cases">
      <legend>Tests ({tests.length})</legend>
      {tests.map((testCase, index) => (
        <div className="test-case" key={index} role="group" aria-label={`Test ${index}`}>
          <label>
            Name{" "}
            <input
              value={testCase.name ?? ""}
              onChange={(e) => replace(index, { ...testCase, name: e.target.value || null })}
            />
          </label>
          {isCodeCase(testCase) ? (
            <label>
              Test code
              <textarea
                rows={2}
                spellCheck={false}
                value={testCase.code}
                onChange={(e) => replace(index, { ...testCase, code: e.target.value })}
              />
            </label>
          ) : (
            <>
              <label>
                Input
                <textarea
                  rows={2}
                  spellCheck={false}
                  value={testCase.stdin ?? ""}
                  onChange={(e) => replace(index, { ...testCase, stdin: e.target.value })}
                />
              </label>
              <label>
                Expected output
                <textarea
                  rows={2}
                  spellCheck={false}
                  value={testCase.expected_stdout}
                  onChange={(e) => replace(index, { ...testCase, expected_stdout: e.target.value })}
                />
              </label>
              <label>
                Compare{" "}
                <select
                  value={testCase.compare ?? "exact"}
                  onChange={(e) =>
                    replace(index, { ...testCase, compare: e.target.value as "exact" | "trim" | "tokens" })
                  }
                >
                  <option>exact</option>
                  <option>trim</option>
                  <option>tokens</option>
                </select>
              </label>
            </>
          )}
          <button type="button" onClick={() => onChange(tests.filter((_, i) => i !== index))}>
            Remove
          </button>
        </div>
      ))}
      <div className="toolbar">
        <button type="button" onClick={() => onChange([...tests, { code: "assert True" }])}>
          Add a code test
        </button>
        <button type="button" onClick={() => onChange([...tests, { stdin: "", expected_stdout: "", compare: "exact" }])}>
          Add a stdout test
        </button>
        <label>
          <input type="checkbox" checked={stopOnFirstFailure} onChange={(e) => onStopChange(e.target.checked)} /> Stop
          at the first failure
        </label>
      </div>
    </fieldset>
  );
}
