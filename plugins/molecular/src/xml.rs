//! Reading an OpenMM `System` serialised with `XmlSerializer`.
//!
//! The reader keeps the document's raw structure: particle masses, the number of constraints and
//! virtual sites, and every `<Force>` element as [`ForceXml`]. Turning a force element into an
//! energy term (and refusing the ones that are not supported) is the job of
//! [`crate::forcefield`]; this module only offers typed, error-checked access to attributes.

use std::path::Path;

/// An error while reading an input file, with the file and the place in it.
pub type ReadResult<T> = Result<T, String>;

/// The parts of an OpenMM `System` document that the force field needs.
#[derive(Debug)]
pub struct SystemXml {
    /// Particle masses in dalton, in particle order.
    pub masses: Vec<f64>,
    /// Number of `<Constraint>` elements.
    pub n_constraints: usize,
    /// Indices of particles that are virtual sites.
    pub virtual_sites: Vec<usize>,
    /// The `<Force>` elements, in document order.
    pub forces: Vec<ForceXml>,
}

/// One `<Force>` element: its type, name, attributes and child elements, detached from the
/// document so that it can outlive the parser.
#[derive(Clone, Debug)]
pub struct ForceXml {
    /// Position of the force in the system (0-based), as OpenMM numbers forces.
    pub index: usize,
    /// The `type` attribute, for example `HarmonicBondForce`.
    pub kind: String,
    /// The `name` attribute (OpenMM's `Force::getName`, by default the type).
    pub name: String,
    /// The element itself.
    pub element: Element,
}

/// A detached XML element: tag, attributes and children (text content is not kept; OpenMM's
/// system files carry everything in attributes).
#[derive(Clone, Debug, Default)]
pub struct Element {
    /// Tag name.
    pub tag: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    fn from_node(node: roxmltree::Node<'_, '_>) -> Element {
        Element {
            tag: node.tag_name().name().to_owned(),
            attributes: node
                .attributes()
                .map(|a| (a.name().to_owned(), a.value().to_owned()))
                .collect(),
            children: node
                .children()
                .filter(|c| c.is_element())
                .map(Element::from_node)
                .collect(),
        }
    }

    /// The attribute's text, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The attribute's text, or an error naming the element and the attribute.
    pub fn require(&self, name: &str, context: &str) -> ReadResult<&str> {
        self.attr(name)
            .ok_or_else(|| format!("{context}: missing attribute `{name}`"))
    }

    /// The attribute as a finite f64.
    pub fn f64(&self, name: &str, context: &str) -> ReadResult<f64> {
        let text = self.require(name, context)?;
        parse_f64(text).ok_or_else(|| {
            format!("{context}: attribute `{name}` is {text:?}, not a finite number")
        })
    }

    /// The attribute as an integer.
    pub fn int(&self, name: &str, context: &str) -> ReadResult<i64> {
        let text = self.require(name, context)?;
        text.trim()
            .parse()
            .map_err(|_| format!("{context}: attribute `{name}` is {text:?}, not an integer"))
    }

    /// The attribute as a particle index below `n`.
    pub fn particle(&self, name: &str, n: usize, context: &str) -> ReadResult<usize> {
        let i = self.int(name, context)?;
        usize::try_from(i)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| format!("{context}: particle index `{name}` = {i} is outside 0..{n}"))
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.tag == tag)
    }

    /// The children of the first child with this tag (empty if there is none), for lists such
    /// as `<Bonds><Bond .../>...</Bonds>`.
    pub fn list(&self, tag: &str) -> &[Element] {
        self.child(tag).map_or(&[], |c| c.children.as_slice())
    }
}

/// Parses a number as OpenMM writes them (`.5`, `-1e-05`, ...); `None` unless finite.
pub fn parse_f64(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Reads and parses an OpenMM System XML file.
pub fn read_system(path: &Path) -> ReadResult<SystemXml> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read OpenMM system XML {}: {e}", path.display()))?;
    parse_system(&text).map_err(|e| format!("OpenMM system XML {}: {e}", path.display()))
}

/// Parses the text of an OpenMM System XML document.
pub fn parse_system(text: &str) -> ReadResult<SystemXml> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| format!("not well-formed XML (truncated or damaged?): {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "System" {
        return Err(format!(
            "the root element is <{}>, not <System>: this is not a serialised OpenMM System",
            root.tag_name().name()
        ));
    }
    let section = |tag: &str| {
        root.children()
            .find(|c| c.is_element() && c.tag_name().name() == tag)
            .ok_or_else(|| format!("<System> has no <{tag}> section (truncated file?)"))
    };

    let mut masses = Vec::new();
    let mut virtual_sites = Vec::new();
    for (i, p) in section("Particles")?
        .children()
        .filter(|c| c.is_element())
        .enumerate()
    {
        let context = format!("particle {i}");
        if p.tag_name().name() != "Particle" {
            return Err(format!(
                "{context}: unexpected element <{}>",
                p.tag_name().name()
            ));
        }
        let mass = p
            .attribute("mass")
            .ok_or_else(|| format!("{context}: missing attribute `mass`"))?;
        let mass = parse_f64(mass)
            .ok_or_else(|| format!("{context}: mass {mass:?} is not a finite number"))?;
        if p.children().any(|c| c.is_element()) {
            virtual_sites.push(i);
        }
        masses.push(mass);
    }
    if masses.is_empty() {
        return Err("the system has no particles".to_owned());
    }

    let n_constraints = root
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "Constraints")
        .map_or(0, |c| c.children().filter(|c| c.is_element()).count());

    let forces = section("Forces")?
        .children()
        .filter(|c| c.is_element())
        .enumerate()
        .map(|(index, f)| {
            let element = Element::from_node(f);
            let kind = element
                .attr("type")
                .ok_or_else(|| format!("force {index}: missing attribute `type`"))?
                .to_owned();
            let name = element.attr("name").unwrap_or(&kind).to_owned();
            Ok(ForceXml {
                index,
                kind,
                name,
                element,
            })
        })
        .collect::<ReadResult<Vec<_>>>()?;

    Ok(SystemXml {
        masses,
        n_constraints,
        virtual_sites,
        forces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"<?xml version="1.0" ?>
<System openmmVersion="8.6.1" type="System" version="1">
  <Particles><Particle mass="12.01"/><Particle mass="1.008"/></Particles>
  <Constraints/>
  <Forces>
    <Force forceGroup="0" name="bonds" type="HarmonicBondForce" usesPeriodic="0" version="2">
      <Bonds><Bond d=".1" k="1e+05" p1="0" p2="1"/></Bonds>
    </Force>
  </Forces>
</System>"#;

    #[test]
    fn reads_particles_and_forces() {
        let s = parse_system(SMALL).unwrap();
        assert_eq!(s.masses, vec![12.01, 1.008]);
        assert_eq!(s.n_constraints, 0);
        assert_eq!(s.forces.len(), 1);
        assert_eq!(s.forces[0].kind, "HarmonicBondForce");
        assert_eq!(s.forces[0].name, "bonds");
        let bond = &s.forces[0].element.list("Bonds")[0];
        assert_eq!(bond.f64("d", "b").unwrap(), 0.1);
        assert_eq!(bond.f64("k", "b").unwrap(), 1e5);
        assert_eq!(bond.particle("p2", 2, "b").unwrap(), 1);
        assert!(bond.particle("p2", 1, "b").is_err());
    }

    #[test]
    fn truncated_document_is_an_error() {
        let err = parse_system(&SMALL[..SMALL.len() / 2]).unwrap_err();
        assert!(err.contains("not well-formed"), "{err}");
    }

    #[test]
    fn wrong_root_and_bad_numbers_are_named() {
        let err = parse_system("<ForceField/>").unwrap_err();
        assert!(err.contains("<ForceField>"), "{err}");
        let bad = SMALL.replace("mass=\"1.008\"", "mass=\"abc\"");
        let err = parse_system(&bad).unwrap_err();
        assert!(err.contains("particle 1") && err.contains("abc"), "{err}");
        let nan = SMALL.replace("d=\".1\"", "d=\"nan\"");
        let s = parse_system(&nan).unwrap();
        let err = s.forces[0].element.list("Bonds")[0]
            .f64("d", "bond 0")
            .unwrap_err();
        assert!(err.contains("bond 0") && err.contains("nan"), "{err}");
    }

    #[test]
    fn numbers_as_openmm_writes_them() {
        assert_eq!(parse_f64(".5"), Some(0.5));
        assert_eq!(parse_f64("-.3662"), Some(-0.3662));
        assert_eq!(parse_f64("1e-05"), Some(1e-5));
        assert_eq!(parse_f64("inf"), None);
        assert_eq!(parse_f64(""), None);
    }
}
