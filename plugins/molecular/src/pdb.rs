//! Reading a PDB file's topology: atom names, residues, elements and CONECT bonds.
//!
//! Only `ATOM`/`HETATM` records of the first model are read (coordinates are parsed only to
//! check the record is complete); columns follow the PDB format v3.3.

use crate::xml::ReadResult;
use std::path::Path;

/// One atom of a PDB topology.
#[derive(Clone, Debug, PartialEq)]
pub struct PdbAtom {
    /// Serial number as written in the file (for CONECT records).
    pub serial: i64,
    /// Atom name, trimmed (for example `CA`).
    pub name: String,
    /// Residue name, trimmed (for example `ALA`).
    pub residue: String,
    /// Residue index, from 0, in order of appearance.
    pub residue_index: usize,
    /// Element symbol (columns 77–78; inferred from the atom name when blank).
    pub element: String,
}

/// The atoms of a PDB file and the bonds of its CONECT records (as atom indices, `i < j`).
#[derive(Clone, Debug, PartialEq)]
pub struct PdbTopology {
    /// Atoms in file order.
    pub atoms: Vec<PdbAtom>,
    /// Bonds from CONECT records, sorted and without duplicates.
    pub conect: Vec<[usize; 2]>,
}

/// Reads a PDB file.
pub fn read_pdb(path: &Path) -> ReadResult<PdbTopology> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read PDB topology {}: {e}", path.display()))?;
    parse_pdb(&text).map_err(|e| format!("PDB topology {}: {e}", path.display()))
}

/// Parses the text of a PDB file.
pub fn parse_pdb(text: &str) -> ReadResult<PdbTopology> {
    let mut atoms = Vec::new();
    let mut conect_lines = Vec::new();
    let mut last_residue: Option<(String, String, String)> = None;
    let mut residue_index = 0;
    for (number, line) in text.lines().enumerate() {
        let line_no = number + 1;
        let record = field(line, 0, 6);
        match record {
            "ATOM" | "HETATM" => {
                let context = format!("line {line_no}");
                if line.len() < 54 {
                    return Err(format!(
                        "{context}: {record} record is truncated ({} characters, need at least 54)",
                        line.len()
                    ));
                }
                let serial = field(line, 6, 11).parse::<i64>().map_err(|_| {
                    format!(
                        "{context}: atom serial {:?} is not a number",
                        field(line, 6, 11)
                    )
                })?;
                for (what, a, b) in [("x", 30, 38), ("y", 38, 46), ("z", 46, 54)] {
                    field(line, a, b).parse::<f64>().map_err(|_| {
                        format!(
                            "{context}: coordinate {what} {:?} is not a number",
                            field(line, a, b)
                        )
                    })?;
                }
                let name = field(line, 12, 16).to_owned();
                if name.is_empty() {
                    return Err(format!("{context}: the atom name (columns 13-16) is blank"));
                }
                let residue = field(line, 17, 20).to_owned();
                let key = (
                    field(line, 21, 22).to_owned(),
                    field(line, 22, 27).to_owned(),
                    residue.clone(),
                );
                if let Some(last) = &last_residue
                    && *last != key
                {
                    residue_index += 1;
                }
                last_residue = Some(key);
                let mut element = field(line, 76, 78).to_owned();
                if element.is_empty() {
                    element = infer_element(&name);
                }
                atoms.push(PdbAtom {
                    serial,
                    name,
                    residue,
                    residue_index,
                    element,
                });
            }
            "CONECT" => conect_lines.push((line_no, line)),
            "ENDMDL" => break,
            _ => {}
        }
    }
    if atoms.is_empty() {
        return Err("no ATOM or HETATM records".to_owned());
    }
    let index_of = |serial: i64| atoms.iter().position(|a| a.serial == serial);
    let mut conect = Vec::new();
    for (line_no, line) in conect_lines {
        let mut serials = Vec::new();
        for (a, b) in [(6, 11), (11, 16), (16, 21), (21, 26), (26, 31)] {
            let f = field(line, a, b);
            if f.is_empty() {
                continue;
            }
            let serial = f
                .parse::<i64>()
                .map_err(|_| format!("line {line_no}: CONECT serial {f:?} is not a number"))?;
            let index = index_of(serial).ok_or_else(|| {
                format!("line {line_no}: CONECT names atom {serial}, which is not in the file")
            })?;
            serials.push(index);
        }
        if let Some((&first, rest)) = serials.split_first() {
            for &other in rest {
                conect.push([first.min(other), first.max(other)]);
            }
        }
    }
    conect.sort_unstable();
    conect.dedup();
    Ok(PdbTopology { atoms, conect })
}

/// Columns `a..b` (0-based, end exclusive) of a line, trimmed; empty where the line is shorter.
fn field(line: &str, a: usize, b: usize) -> &str {
    let b = b.min(line.len());
    line.get(a.min(b)..b).unwrap_or("").trim()
}

/// Element from an atom name when the element columns are blank: its first letter (PDB names of
/// biomolecules start with the element, e.g. `CA` is a carbon, `HB1` a hydrogen).
fn infer_element(name: &str) -> String {
    name.chars()
        .find(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDB: &str = "\
REMARK   1 test
HETATM    1  C   ACE A   1       3.425   2.712   0.277  1.00  0.00           C
HETATM    2  O   ACE A   1       4.301   2.056   0.841  1.00  0.00           O
ATOM      3  N   ALA A   2       3.650   3.883  -0.316  1.00  0.00           N
ATOM      4  CA  ALA A   2       4.937   4.585  -0.360  1.00  0.00
CONECT    1    2    3
END
";

    #[test]
    fn reads_atoms_residues_elements_and_conect() {
        let t = parse_pdb(PDB).unwrap();
        let names: Vec<_> = t.atoms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["C", "O", "N", "CA"]);
        let residues: Vec<_> = t.atoms.iter().map(|a| a.residue_index).collect();
        assert_eq!(residues, [0, 0, 1, 1]);
        assert_eq!(t.atoms[2].residue, "ALA");
        assert_eq!(t.atoms[1].element, "O");
        assert_eq!(t.atoms[3].element, "C", "inferred from the name");
        assert_eq!(t.conect, vec![[0, 1], [0, 2]]);
    }

    #[test]
    fn truncated_records_are_errors_with_the_line() {
        let cut = &PDB[..PDB.find("4.585").unwrap()];
        let err = parse_pdb(cut).unwrap_err();
        assert!(err.contains("line 5") && err.contains("truncated"), "{err}");
        let err = parse_pdb("REMARK nothing\nEND\n").unwrap_err();
        assert!(err.contains("no ATOM"), "{err}");
        let bad = PDB.replace("CONECT    1    2    3", "CONECT    1    9");
        let err = parse_pdb(&bad).unwrap_err();
        assert!(err.contains("CONECT") && err.contains('9'), "{err}");
        let bad = PDB.replace("3.650", "3.6x0");
        let err = parse_pdb(&bad).unwrap_err();
        assert!(
            err.contains("line 4") && err.contains("coordinate x"),
            "{err}"
        );
    }
}
