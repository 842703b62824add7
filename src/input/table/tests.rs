use super::*;
use crate::input::{Entry, Reader};

fn spec(template: &str) -> TableSpec {
    TableSpec {
        template: TemplateSource {
            name: "--template".into(),
            text: template.into(),
        },
        system: None,
        id_column: None,
    }
}

fn render(spec: &TableSpec, name: &str, text: &str) -> (Result<TableInfo, TableError>, Vec<Entry>) {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join(name);
    std::fs::write(&table, text).unwrap();
    let dest = dir.path().join(RENDERED_FILE);
    let info = render_to(spec, &table, &dest);
    let entries = match &info {
        Ok(_) => Reader::open(&dest).unwrap().map(|e| e.unwrap()).collect(),
        Err(_) => Vec::new(),
    };
    (info, entries)
}

fn item(entry: &Entry) -> &crate::input::WorkItem {
    match entry {
        Entry::Item(item) => item,
        Entry::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

#[test]
fn csv_rows_become_requests_on_the_tables_own_line_numbers() {
    let mut spec = spec("Summarize: {{ text }}");
    spec.system = Some(TemplateSource {
        name: "--system".into(),
        text: "Answer in {{ lang }}.".into(),
    });
    let csv = "id,text,lang,model,max_tokens\n\
               a,\"first\nrow\",en,,\n\
               b,second,fr,gpt-4.1,12\n\
               ,third,de,,\n";
    let (info, entries) = render(&spec, "data.csv", csv);
    let info = info.unwrap();
    assert_eq!(info.columns, ["id", "text", "lang", "model", "max_tokens"]);
    assert_eq!(info.rows, 3);
    assert_eq!(entries.len(), 3);
    let (a, b, c) = (item(&entries[0]), item(&entries[1]), item(&entries[2]));
    // Line 2 spans two lines: the next row starts on line 4.
    assert_eq!((a.line, b.line, c.line), (2, 4, 5));
    assert_eq!((a.id.as_str(), b.id.as_str(), c.id.as_str()), ("a", "b", "line-5"));
    assert_eq!(a.body["messages"][0]["content"], "Answer in en.");
    assert_eq!(a.body["messages"][1]["content"], "Summarize: first\nrow");
    assert_eq!(a.model(), None);
    assert_eq!(b.model(), Some("gpt-4.1"));
    assert_eq!(b.body["max_tokens"], 12);
    assert_eq!(b.metadata.as_ref().unwrap()["text"], "second");
    assert_eq!(info.preview.len(), 3);
}

#[test]
fn jsonl_objects_are_rows_too_with_an_id_column() {
    let mut spec = spec("Tell me about {{ topic }} in {{ words }} words");
    spec.id_column = Some("key".into());
    let text = "{\"key\":\"k1\",\"topic\":\"sheep\",\"words\":5}\n\n{\"key\":7,\"topic\":\"dogs\",\"words\":3,\"max_tokens\":9}\n";
    let (info, entries) = render(&spec, "rows.jsonl", text);
    assert_eq!(info.unwrap().columns, ["key", "topic", "words", "max_tokens"]);
    let (a, b) = (item(&entries[0]), item(&entries[1]));
    assert_eq!((a.id.as_str(), a.line), ("k1", 1));
    assert_eq!((b.id.as_str(), b.line), ("7", 3));
    assert_eq!(a.body["messages"][0]["content"], "Tell me about sheep in 5 words");
    assert_eq!(b.body["max_tokens"], 9);
}

#[test]
fn errors_name_the_file_line_and_column_or_variable() {
    let spec = spec("Summarize: {{ text }}");
    let message = |name: &str, text: &str| render(&spec, name, text).0.unwrap_err().to_string();

    let missing_column = message("data.csv", "id,body\na,x\n");
    assert!(
        missing_column
            .contains("data.csv: the template uses {{ text }}, but the header has no such column (columns: id, body)"),
        "{missing_column}"
    );
    let short_row = message("data.csv", "id,text\na,x\nb\n");
    assert!(
        short_row.contains("data.csv: line 3: the row has 1 fields, the header 2"),
        "{short_row}"
    );
    let bad_number = message("data.csv", "text,max_tokens\nx,lots\n");
    assert!(
        bad_number.contains("line 2: column max_tokens: \"lots\" is not a whole number"),
        "{bad_number}"
    );
    let missing_key = message("rows.jsonl", "{\"text\":\"x\"}\n{\"txt\":\"y\"}\n");
    assert!(
        missing_key.contains("rows.jsonl: line 2: the template uses {{ text }}, which this row does not have"),
        "{missing_key}"
    );
    let not_json = message("rows.jsonl", "{\"text\":\"x\"}\nnope\n");
    assert!(not_json.contains("rows.jsonl: line 2: not valid JSON"), "{not_json}");
    let mut bad_id = spec.clone();
    bad_id.id_column = Some("key".into());
    let err = render(&bad_id, "data.csv", "text\nx\n").0.unwrap_err().to_string();
    assert!(err.contains("--id-column key: no such column (columns: text)"), "{err}");
}

#[test]
fn a_resume_with_a_changed_template_is_refused_and_an_unchanged_one_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("data.csv");
    std::fs::write(&table, "text\nx\n").unwrap();
    let run = dir.path().join("run");
    render_into(&spec("A {{ text }}"), &table, &run).unwrap();
    std::fs::write(run.join(crate::output::manifest::MANIFEST_FILE), "{}").unwrap();
    render_into(&spec("A {{ text }}"), &table, &run).unwrap();
    let err = render_into(&spec("B {{ text }}"), &table, &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the template, --system, --id-column or the table changed"),
        "{err}"
    );
    let kept = std::fs::read_to_string(run.join(RENDERED_FILE)).unwrap();
    assert!(
        kept.lines().nth(1).unwrap().contains("A x"),
        "the first rendering is kept: {kept}"
    );
    assert_eq!(read_info(&run).unwrap().columns, ["text"]);
}
