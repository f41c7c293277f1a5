"""scikit-learn part of the catalogue, discovered by introspection.

Every classifier and regressor returned by ``sklearn.utils.all_estimators`` becomes
a catalogue entry unless it is listed in :data:`EXCLUDED_CLASSES` with a reason.
Estimators that need constructor arguments (meta-estimators) get sensible base
learners in :data:`CONFIGURED`, which also holds the genuinely different variants
(other kernels, losses, base learners). Anything new in a later scikit-learn that
builds with defaults is included automatically; anything that does not is recorded
as excluded, never dropped silently.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    BaggingRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    RandomTreesEmbedding,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.feature_selection import RFE, SelectFromModel
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import (
    ElasticNet,
    HuberRegressor,
    Lasso,
    LassoLars,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    QuantileRegressor,
    Ridge,
    RidgeCV,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.model_selection import FixedThresholdClassifier, TunedThresholdClassifierCV
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier, OutputCodeClassifier
from sklearn.naive_bayes import CategoricalNB, ComplementNB, GaussianNB, MultinomialNB
from sklearn.neighbors import (
    KNeighborsClassifier,
    KNeighborsRegressor,
    NeighborhoodComponentsAnalysis,
    RadiusNeighborsClassifier,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from sklearn.semi_supervised import LabelPropagation, LabelSpreading
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR, NuSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import all_estimators

from engine.ml import search_spaces as ss
from engine.ml.catalog_spec import ModelSpec, derive_flags, display_name
from engine.ml.search_spaces import Cat, Float, Int

# --- exclusions --------------------------------------------------------------------

EXCLUDED_CLASSES: dict[str, str] = {
    "ClassifierChain": "multi-label only: chains one classifier per target column; "
    "catalogue targets have one column",
    "MultiOutputClassifier": "needs a 2-D target (one model per column); with one "
    "target it is just its base estimator",
    "MultiOutputRegressor": "needs a 2-D target (one model per column); with one "
    "target it is just its base estimator",
    "RegressorChain": "multi-output only: chains one regressor per target column",
    "MultiTaskElasticNet": "multi-task (2-D target) only; ElasticNet covers one target",
    "MultiTaskElasticNetCV": "multi-task (2-D target) only; ElasticNetCV covers one target",
    "MultiTaskLasso": "multi-task (2-D target) only; Lasso covers one target",
    "MultiTaskLassoCV": "multi-task (2-D target) only; LassoCV covers one target",
    "IsotonicRegression": "fits a monotone function of a single feature (1-D input only)",
    "CCA": "canonical correlation between X and a multi-column Y; with one target "
    "n_components is capped at 1 and PLSRegression is the regressor",
    "PLSCanonical": "symmetric canonical PLS for a multi-column Y; with one target "
    "PLSRegression is the regressor",
    "GammaRegressor": "needs strictly positive targets; returns and most tabular "
    "targets are signed",
    "PoissonRegressor": "needs non-negative count targets; returns and most tabular "
    "targets are signed",
    "SelfTrainingClassifier": "semi-supervised: learns from unlabelled rows (y = -1); "
    "catalogue datasets are fully labelled, where it is exactly its base estimator",
    "PassiveAggressiveClassifier": "deprecated in scikit-learn 1.8 (removed in 1.10); "
    "the same algorithm is sklearn.SGDClassifier.passive_aggressive",
    "PassiveAggressiveRegressor": "deprecated in scikit-learn 1.8 (removed in 1.10); "
    "the same algorithm is sklearn.SGDRegressor.passive_aggressive",
    "RadiusNeighborsRegressor": "predicts NaN for rows with no training row inside the "
    "radius (no fallback, unlike the classifier's outlier_label); KNeighborsRegressor "
    "covers the method",
}

# --- families ----------------------------------------------------------------------

_MODULE_FAMILY = (
    ("sklearn.ensemble._hist_gradient_boosting", "boosting"),
    ("sklearn.ensemble._gb", "boosting"),
    ("sklearn.ensemble._weight_boosting", "boosting"),
    ("sklearn.ensemble", "ensemble"),
    ("sklearn.linear_model", "linear"),
    ("sklearn.cross_decomposition", "linear"),
    ("sklearn.tree", "tree"),
    ("sklearn.svm", "svm"),
    ("sklearn.kernel_ridge", "kernel"),
    ("sklearn.neighbors", "neighbors"),
    ("sklearn.naive_bayes", "naive_bayes"),
    ("sklearn.neural_network", "neural"),
    ("sklearn.gaussian_process", "gaussian_process"),
    ("sklearn.discriminant_analysis", "discriminant"),
    ("sklearn.semi_supervised", "semi_supervised"),
    ("sklearn.dummy", "dummy"),
)


def family_of(cls: type) -> str:
    for prefix, family in _MODULE_FAMILY:
        if cls.__module__.startswith(prefix):
            return family
    return "meta"


# --- search spaces by estimator class ------------------------------------------------

SPACES: dict[str, dict[str, tuple]] = {
    "LogisticRegression": ss.C_LINEAR,
    "LogisticRegressionCV": {"Cs": Cat(5, 10, 20)},
    "RidgeClassifier": ss.ALPHA_RIDGE,
    "Ridge": ss.ALPHA_RIDGE,
    "RidgeClassifierCV": {"fit_intercept": Cat(True, False)},
    "RidgeCV": {"fit_intercept": Cat(True, False)},
    "SGDClassifier": ss.SGD,
    "SGDRegressor": ss.SGD,
    "Perceptron": {
        "alpha": Float(1e-6, 1e-2, log=True),
        "penalty": Cat(None, "l2", "l1", "elasticnet"),
    },
    "LinearSVC": ss.C_LINEAR,
    "LinearSVR": {**ss.C_LINEAR, "epsilon": Float(0.0, 0.5)},
    "SVC": ss.SVM_RBF,
    "NuSVC": {"nu": Float(0.05, 0.5), "gamma": Float(1e-4, 1.0, log=True)},
    "SVR": {**ss.SVM_RBF, "epsilon": Float(0.01, 0.5, log=True)},
    "NuSVR": {"nu": Float(0.1, 0.9), "C": Float(1e-2, 1e2, log=True)},
    "KNeighborsClassifier": ss.KNN,
    "KNeighborsRegressor": ss.KNN,
    "RadiusNeighborsClassifier": {
        "radius": Float(0.5, 20.0, log=True),
        "weights": Cat("uniform", "distance"),
    },
    "NearestCentroid": {"shrink_threshold": Float(1e-3, 2.0, log=True)},
    "GaussianNB": {"var_smoothing": Float(1e-12, 1e-2, log=True)},
    "BernoulliNB": {"alpha": Float(1e-3, 10.0, log=True)},
    "MultinomialNB": {"model__alpha": Float(1e-3, 10.0, log=True)},
    "ComplementNB": {"model__alpha": Float(1e-3, 10.0, log=True)},
    "CategoricalNB": {
        "model__alpha": Float(1e-3, 10.0, log=True),
        "bins__n_bins": Int(3, 10),
    },
    "DecisionTreeClassifier": ss.TREE,
    "DecisionTreeRegressor": ss.TREE,
    "ExtraTreeClassifier": ss.TREE,
    "ExtraTreeRegressor": ss.TREE,
    "RandomForestClassifier": ss.FOREST,
    "RandomForestRegressor": ss.FOREST,
    "ExtraTreesClassifier": ss.FOREST,
    "ExtraTreesRegressor": ss.FOREST,
    "GradientBoostingClassifier": ss.GRADIENT_BOOSTING,
    "GradientBoostingRegressor": ss.GRADIENT_BOOSTING,
    "HistGradientBoostingClassifier": ss.HIST_GRADIENT_BOOSTING,
    "HistGradientBoostingRegressor": ss.HIST_GRADIENT_BOOSTING,
    "AdaBoostClassifier": ss.ADABOOST,
    "AdaBoostRegressor": {**ss.ADABOOST, "loss": Cat("linear", "square", "exponential")},
    "BaggingClassifier": ss.BAGGING,
    "BaggingRegressor": ss.BAGGING,
    "MLPClassifier": ss.MLP,
    "MLPRegressor": ss.MLP,
    "GaussianProcessClassifier": {"n_restarts_optimizer": Int(0, 2)},
    "GaussianProcessRegressor": {"n_restarts_optimizer": Int(0, 1)},
    "LinearDiscriminantAnalysis": {"tol": Float(1e-6, 1e-2, log=True)},
    "QuadraticDiscriminantAnalysis": {"reg_param": Float(0.01, 0.9, log=True)},
    "LabelPropagation": {"n_neighbors": Int(3, 30)},
    "LabelSpreading": {"n_neighbors": Int(3, 30), "alpha": Float(0.05, 0.95)},
    "CalibratedClassifierCV": {
        "method": Cat("sigmoid", "isotonic"),
        "estimator__C": Float(1e-3, 1e2, log=True),
    },
    "LinearRegression": {"fit_intercept": Cat(True, False)},
    "Lasso": ss.ALPHA_SPARSE,
    "ElasticNet": {**ss.ALPHA_SPARSE, "l1_ratio": Float(0.05, 0.95)},
    "LassoLars": ss.ALPHA_SPARSE,
    "Lars": {"n_nonzero_coefs": Int(1, 50, log=True)},
    "LassoCV": {"eps": Float(1e-4, 1e-2, log=True)},
    "ElasticNetCV": {"l1_ratio": Float(0.05, 0.95)},
    "LassoLarsCV": {"max_n_alphas": Int(100, 2000, log=True)},
    "LarsCV": {"max_n_alphas": Int(100, 2000, log=True)},
    "LassoLarsIC": {"criterion": Cat("aic", "bic")},
    "OrthogonalMatchingPursuit": {"fit_intercept": Cat(True, False)},
    "OrthogonalMatchingPursuitCV": {"fit_intercept": Cat(True, False)},
    "BayesianRidge": {
        "alpha_1": Float(1e-8, 1e-4, log=True),
        "lambda_1": Float(1e-8, 1e-4, log=True),
    },
    "ARDRegression": {
        "threshold_lambda": Float(1e3, 1e5, log=True),
        "lambda_1": Float(1e-8, 1e-4, log=True),
    },
    "HuberRegressor": {"epsilon": Float(1.1, 3.0), "alpha": Float(1e-6, 1e-1, log=True)},
    "QuantileRegressor": {"alpha": Float(1e-6, 1e-1, log=True)},
    "TheilSenRegressor": {"max_subpopulation": Int(1000, 10000, log=True)},
    "RANSACRegressor": {"min_samples": Float(0.3, 0.9), "max_trials": Int(50, 200, log=True)},
    "TweedieRegressor": {"alpha": Float(1e-4, 10.0, log=True)},
    "KernelRidge": {"alpha": Float(1e-3, 10.0, log=True), "gamma": Float(1e-3, 1.0, log=True)},
    "PLSRegression": {"n_components": Int(1, 5)},
    "DummyClassifier": {},
    "DummyRegressor": {},
}

# --- display names where splitting the class name reads badly --------------------

DISPLAY: dict[str, str] = {
    "GaussianNB": "Gaussian Naive Bayes",
    "BernoulliNB": "Bernoulli Naive Bayes",
    "MultinomialNB": "Multinomial Naive Bayes",
    "ComplementNB": "Complement Naive Bayes",
    "CategoricalNB": "Categorical Naive Bayes (binned features)",
    "AdaBoostRegressor": "AdaBoost Regressor (depth-3 trees)",
    "TheilSenRegressor": "Theil-Sen Regressor",
    "Lars": "Least Angle Regression (LARS)",
    "LarsCV": "Least Angle Regression (LARS) CV",
    "LassoLars": "Lasso (LARS path)",
    "LassoLarsCV": "Lasso (LARS path) CV",
    "LassoLarsIC": "Lasso (LARS path, information criterion)",
    "NuSVC": "Nu-SVC (RBF kernel)",
    "NuSVR": "Nu-SVR (RBF kernel)",
    "LinearSVC": "Linear SVM Classifier",
    "LinearSVR": "Linear SVM Regressor",
    "MLPClassifier": "MLP Classifier (neural network)",
    "MLPRegressor": "MLP Regressor (neural network)",
    "TweedieRegressor": "Tweedie Regressor (normal, identity link)",
    "QuantileRegressor": "Quantile (median) Regressor",
}

# --- aliases (the chat planner's vocabulary) ------------------------------------------

ALIASES: dict[str, tuple[str, ...]] = {
    "RandomForestClassifier": ("rf", "random forest"),
    "RandomForestRegressor": ("rf", "random forest"),
    "ExtraTreesClassifier": ("extra trees", "extremely randomized trees"),
    "ExtraTreesRegressor": ("extra trees", "extremely randomized trees"),
    "GradientBoostingClassifier": ("gbm", "gradient boosting"),
    "GradientBoostingRegressor": ("gbm", "gradient boosting"),
    "HistGradientBoostingClassifier": ("hgb", "histgb", "hist gradient boosting"),
    "HistGradientBoostingRegressor": ("hgb", "histgb", "hist gradient boosting"),
    "AdaBoostClassifier": ("adaboost",),
    "AdaBoostRegressor": ("adaboost",),
    "DecisionTreeClassifier": ("decision tree", "cart", "tree"),
    "DecisionTreeRegressor": ("decision tree", "cart", "tree"),
    "SVC": ("svm", "support vector machine", "support vector classifier"),
    "SVR": ("svm", "support vector machine", "support vector regression"),
    "KNeighborsClassifier": ("knn", "k nearest neighbors", "nearest neighbours"),
    "KNeighborsRegressor": ("knn", "k nearest neighbors", "nearest neighbours"),
    "MLPClassifier": ("mlp", "neural network", "neural net", "multilayer perceptron"),
    "MLPRegressor": ("mlp", "neural network", "neural net", "multilayer perceptron"),
    "LogisticRegression": ("logistic", "logit", "logreg", "logistic regression"),
    "LinearRegression": ("ols", "least squares", "linear regression", "linear"),
    "Ridge": ("ridge regression", "l2 regression"),
    "Lasso": ("lasso regression", "l1 regression"),
    "GaussianNB": ("naive bayes", "nb"),
    "GaussianProcessClassifier": ("gp", "gaussian process"),
    "GaussianProcessRegressor": ("gp", "gaussian process", "kriging"),
    "LinearDiscriminantAnalysis": ("lda",),
    "QuadraticDiscriminantAnalysis": ("qda",),
    "DummyClassifier": ("baseline", "dummy", "majority class"),
    "DummyRegressor": ("baseline", "dummy", "mean"),
    "StackingClassifier": ("stacking", "stack"),
    "StackingRegressor": ("stacking", "stack"),
    "VotingClassifier": ("voting", "ensemble vote"),
    "VotingRegressor": ("voting", "ensemble vote"),
    "BaggingClassifier": ("bagging", "bagged trees"),
    "BaggingRegressor": ("bagging", "bagged trees"),
    "ElasticNet": ("elastic net",),
    "HuberRegressor": ("huber", "robust regression"),
    "QuantileRegressor": ("median regression", "quantile regression"),
    "KernelRidge": ("kernel ridge", "krr"),
    "PLSRegression": ("pls", "partial least squares"),
}


# --- configured entries: base learners for meta-estimators, genuine variants -------


@dataclass
class Variant:
    """One catalogue entry built from a scikit-learn class.

    ``suffix`` "" is the class's own entry (id ``sklearn.<Class>``); otherwise the id
    is ``sklearn.<Class>.<suffix>``.
    """

    suffix: str
    make: Callable[[], Any]
    label: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    space: dict[str, tuple] | None = None
    family: str | None = None
    aliases: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)


def _lr() -> LogisticRegression:
    return LogisticRegression(max_iter=1000)


def _pipe(*steps: tuple[str, Any]) -> Pipeline:
    return Pipeline(list(steps))


_C_MODEL = {"model__C": Float(1e-3, 1e2, log=True)}
_ALPHA_MODEL = {"model__alpha": Float(1e-3, 1e3, log=True)}
_CAL_FAST = {"cv": 3}


@dataclass(frozen=True)
class CappedLBFGS:
    """L-BFGS-B for the Gaussian-process marginal likelihood, capped at ``maxiter``
    iterations: uncapped, a 2,000-row fit takes minutes (each step is O(n^3))."""

    maxiter: int = 15

    def __call__(self, obj_func, initial_theta, bounds):
        from scipy.optimize import minimize

        result = minimize(
            obj_func,
            initial_theta,
            method="L-BFGS-B",
            jac=True,
            bounds=bounds,
            options={"maxiter": self.maxiter},
        )
        return result.x, result.fun


def _gpr(kernel) -> GaussianProcessRegressor:
    return GaussianProcessRegressor(
        kernel=ConstantKernel(1.0) * kernel + WhiteKernel(1.0), normalize_y=True
    )


_GPR_DEFAULTS = {"optimizer": CappedLBFGS(15)}


CONFIGURED: dict[str, list[Variant]] = {
    # ---- classifiers -------------------------------------------------------------
    "SVC": [
        Variant("", SVC, label="SVC (RBF kernel)"),
        Variant(
            "linear",
            lambda: SVC(kernel="linear"),
            label="SVC (linear kernel)",
            space={"C": Float(1e-3, 1e2, log=True)},
        ),
        Variant(
            "poly",
            lambda: SVC(kernel="poly", degree=3, coef0=1.0),
            label="SVC (polynomial kernel)",
            space={**ss.SVM_RBF, "degree": Int(2, 4)},
        ),
        Variant(
            "sigmoid",
            lambda: SVC(kernel="sigmoid", coef0=0.0),
            label="SVC (sigmoid kernel)",
            space={"C": Float(1e-2, 1e2, log=True), "gamma": Float(1e-4, 0.1, log=True)},
        ),
    ],
    "SGDClassifier": [
        Variant("", SGDClassifier, label="SGD Classifier (hinge: linear SVM)"),
        Variant(
            "log_loss",
            lambda: SGDClassifier(loss="log_loss"),
            label="SGD Classifier (logistic loss)",
            description="Logistic regression trained by stochastic gradient descent.",
        ),
        Variant(
            "modified_huber",
            lambda: SGDClassifier(loss="modified_huber"),
            label="SGD Classifier (modified Huber loss)",
            description="Smoothed hinge loss: robust to outliers, gives probabilities.",
        ),
        Variant(
            "passive_aggressive",
            lambda: SGDClassifier(loss="hinge", penalty=None, learning_rate="pa1", eta0=1.0),
            label="Passive Aggressive Classifier",
            description="Online passive-aggressive (PA-I) updates; the replacement for "
            "the deprecated PassiveAggressiveClassifier.",
            space={"eta0": Float(1e-3, 10.0, log=True)},
            aliases=("passive aggressive",),
        ),
    ],
    "LogisticRegression": [
        Variant("", _lr, label="Logistic Regression (L2)", defaults={"max_iter": 1000}),
        Variant(
            "l1",
            lambda: LogisticRegression(l1_ratio=1.0, solver="liblinear"),
            label="Logistic Regression (L1, sparse)",
            space=ss.C_LINEAR,
            aliases=("l1 logistic", "sparse logistic"),
        ),
        Variant(
            "elasticnet",
            lambda: LogisticRegression(l1_ratio=0.5, solver="saga", max_iter=2000),
            label="Logistic Regression (elastic net)",
            space={**ss.C_LINEAR, "l1_ratio": Float(0.05, 0.95)},
        ),
        Variant(
            "nystroem",
            lambda: _pipe(("nystroem", Nystroem(n_components=100)), ("model", _lr())),
            label="Kernel Logistic Regression (Nystroem RBF)",
            description="Logistic regression on a 100-component Nystroem approximation "
            "of the RBF kernel map.",
            family="kernel",
            space={
                "nystroem__gamma": Float(1e-3, 1.0, log=True),
                "nystroem__n_components": Cat(50, 100, 200),
                **_C_MODEL,
            },
        ),
        Variant(
            "poly2",
            lambda: _pipe(
                ("poly", PolynomialFeatures(2, include_bias=False)),
                ("scale", StandardScaler()),
                ("model", _lr()),
            ),
            label="Polynomial Logistic Regression (degree 2)",
            description="Logistic regression on all pairwise products and squares.",
            space=_C_MODEL,
        ),
        Variant(
            "splines",
            lambda: _pipe(("splines", SplineTransformer(n_knots=5)), ("model", _lr())),
            label="Additive Spline Logistic Regression (GAM-like)",
            description="Logistic regression on cubic B-spline expansions of each feature: "
            "a smooth additive model.",
            space={"splines__n_knots": Int(3, 8), **_C_MODEL},
            aliases=("gam", "spline logistic"),
        ),
        Variant(
            "pca",
            lambda: _pipe(("pca", PCA(n_components=0.95)), ("model", _lr())),
            label="Principal Component Logistic Regression",
            description="Logistic regression on the principal components explaining 95% "
            "of the variance.",
            space={"pca__n_components": Float(0.5, 0.99), **_C_MODEL},
        ),
        Variant(
            "rfe",
            lambda: RFE(_lr(), n_features_to_select=0.5),
            label="Logistic Regression with Recursive Feature Elimination",
            description="Recursively drops the weakest features (by |coefficient|) down to "
            "half of them, then fits logistic regression on the rest.",
            family="meta",
            space={
                "n_features_to_select": Float(0.2, 1.0),
                "estimator__C": Float(1e-3, 1e2, log=True),
            },
            aliases=("rfe",),
        ),
        Variant(
            "trees_embedding",
            lambda: _pipe(
                ("embed", RandomTreesEmbedding(n_estimators=50, max_depth=4)),
                ("model", _lr()),
            ),
            label="Random Trees Embedding + Logistic Regression",
            description="Logistic regression on the one-hot leaf indices of 50 totally "
            "random trees (a non-linear, sparse feature map).",
            family="tree",
            space={
                "embed__n_estimators": Int(10, 100, log=True),
                "embed__max_depth": Int(2, 6),
                **_C_MODEL,
            },
        ),
    ],
    "LogisticRegressionCV": [
        Variant(
            "",
            LogisticRegressionCV,
            defaults={
                "l1_ratios": (0.0,),
                "scoring": "neg_log_loss",
                "use_legacy_attributes": False,
                "max_iter": 1000,
            },
        )
    ],
    "KNeighborsClassifier": [
        Variant("", KNeighborsClassifier, label="k-Nearest Neighbors Classifier"),
        Variant(
            "select_from_model",
            lambda: _pipe(
                (
                    "select",
                    SelectFromModel(ExtraTreesClassifier(n_estimators=100), threshold="median"),
                ),
                ("model", KNeighborsClassifier(n_neighbors=15)),
            ),
            label="k-Nearest Neighbors on tree-selected features",
            description="Keeps the features above median extra-trees importance, then "
            "classifies by the 15 nearest neighbours.",
            space={
                "select__threshold": Cat("median", "mean", "0.5*mean"),
                "model__n_neighbors": Int(3, 50, log=True),
            },
        ),
        Variant(
            "nca",
            lambda: _pipe(
                ("nca", NeighborhoodComponentsAnalysis(max_iter=50)),
                ("model", KNeighborsClassifier(n_neighbors=15)),
            ),
            label="k-Nearest Neighbors with learned metric (NCA)",
            description="Neighbourhood components analysis learns a linear metric that "
            "maximises leave-one-out kNN accuracy; kNN then classifies in that space.",
            space={"model__n_neighbors": Int(3, 50, log=True)},
        ),
    ],
    "RadiusNeighborsClassifier": [
        Variant(
            "",
            RadiusNeighborsClassifier,
            defaults={"radius": 5.0, "outlier_label": "most_frequent"},
        )
    ],
    "MultinomialNB": [
        Variant(
            "",
            lambda: _pipe(("minmax", MinMaxScaler(clip=True)), ("model", MultinomialNB())),
            description="Multinomial naive Bayes on features min-max scaled to [0, 1] "
            "(it needs non-negative inputs).",
        )
    ],
    "ComplementNB": [
        Variant(
            "",
            lambda: _pipe(("minmax", MinMaxScaler(clip=True)), ("model", ComplementNB())),
            description="Complement naive Bayes on features min-max scaled to [0, 1] "
            "(it needs non-negative inputs).",
        )
    ],
    "CategoricalNB": [
        Variant(
            "",
            lambda: _pipe(
                ("bins", KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="quantile")),
                ("model", CategoricalNB(min_categories=10)),
            ),
            description="Categorical naive Bayes on quantile bins of each feature.",
        )
    ],
    "QuadraticDiscriminantAnalysis": [
        Variant(
            "",
            QuadraticDiscriminantAnalysis,
            defaults={"reg_param": 0.05},
            description="Gaussian class densities with per-class covariances, shrunk by "
            "reg_param (collinear features make the plain estimate singular).",
        )
    ],
    "LinearDiscriminantAnalysis": [
        Variant("", LinearDiscriminantAnalysis),
        Variant(
            "shrinkage",
            lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
            label="Linear Discriminant Analysis (Ledoit-Wolf shrinkage)",
            space={"shrinkage": Float(0.0, 1.0)},
        ),
    ],
    "GaussianProcessClassifier": [
        Variant("", GaussianProcessClassifier, label="Gaussian Process Classifier (RBF)"),
        Variant(
            "matern",
            lambda: GaussianProcessClassifier(kernel=1.0 * Matern(length_scale=1.0, nu=1.5)),
            label="Gaussian Process Classifier (Matern 3/2)",
        ),
    ],
    "MLPClassifier": [
        Variant(
            "",
            MLPClassifier,
            defaults={"max_iter": 300, "early_stopping": True, "n_iter_no_change": 10},
        )
    ],
    "LabelPropagation": [
        Variant(
            "",
            LabelPropagation,
            defaults={"kernel": "knn", "n_neighbors": 7, "max_iter": 1000},
            description="Graph label propagation over a sparse kNN graph; with fully "
            "labelled training rows it predicts by diffusion from the nearest rows.",
        )
    ],
    "LabelSpreading": [
        Variant(
            "",
            LabelSpreading,
            defaults={"kernel": "knn", "n_neighbors": 7, "max_iter": 100},
            description="Label spreading (normalised graph Laplacian, soft clamping) over "
            "a sparse kNN graph.",
        )
    ],
    "DummyClassifier": [
        Variant("", DummyClassifier, label="Dummy Classifier (class prior)"),
        Variant(
            "stratified",
            lambda: DummyClassifier(strategy="stratified"),
            label="Dummy Classifier (random, stratified)",
            description="Random guesses with the training class frequencies: the chance baseline.",
        ),
    ],
    "AdaBoostClassifier": [
        Variant("", AdaBoostClassifier, label="AdaBoost Classifier (stumps)"),
        Variant(
            "depth3",
            lambda: AdaBoostClassifier(DecisionTreeClassifier(max_depth=3)),
            label="AdaBoost Classifier (depth-3 trees)",
            space={**ss.ADABOOST, "estimator__max_depth": Int(1, 6)},
        ),
    ],
    "BaggingClassifier": [
        Variant("", BaggingClassifier, label="Bagging Classifier (decision trees)"),
        Variant(
            "knn",
            lambda: BaggingClassifier(KNeighborsClassifier(n_neighbors=15), max_samples=0.5),
            label="Bagging Classifier (k-nearest neighbours)",
            space={**ss.BAGGING, "estimator__n_neighbors": Int(3, 50, log=True)},
        ),
        Variant(
            "svc",
            lambda: BaggingClassifier(SVC(), max_samples=0.5),
            label="Bagging Classifier (RBF SVMs on half-samples)",
            space={**ss.BAGGING, "estimator__C": Float(1e-2, 1e2, log=True)},
        ),
    ],
    "CalibratedClassifierCV": [
        Variant(
            "",
            lambda: CalibratedClassifierCV(LinearSVC()),
            label="Calibrated Linear SVM (Platt)",
            defaults=_CAL_FAST,
            description="Linear SVM with cross-validated sigmoid calibration, giving "
            "probabilities.",
        ),
        Variant(
            "svc",
            lambda: CalibratedClassifierCV(SVC()),
            label="Calibrated RBF SVM",
            defaults=_CAL_FAST,
            space={
                "method": Cat("sigmoid", "isotonic"),
                "estimator__C": Float(1e-2, 1e3, log=True),
                "estimator__gamma": Float(1e-4, 1.0, log=True),
            },
        ),
        Variant(
            "random_forest",
            lambda: CalibratedClassifierCV(RandomForestClassifier(), method="isotonic"),
            label="Calibrated Random Forest (isotonic)",
            defaults=_CAL_FAST,
            space={
                "method": Cat("sigmoid", "isotonic"),
                "estimator__n_estimators": Int(50, 300, log=True),
                "estimator__min_samples_leaf": Int(1, 50, log=True),
            },
        ),
    ],
    "OneVsRestClassifier": [
        Variant(
            "",
            lambda: OneVsRestClassifier(_lr()),
            label="One-vs-Rest (logistic regression)",
            space={"estimator__C": Float(1e-3, 1e2, log=True)},
        )
    ],
    "OneVsOneClassifier": [
        Variant(
            "",
            lambda: OneVsOneClassifier(SVC()),
            label="One-vs-One (RBF SVM)",
            space={"estimator__C": Float(1e-2, 1e3, log=True)},
        )
    ],
    "OutputCodeClassifier": [
        Variant(
            "",
            lambda: OutputCodeClassifier(_lr(), code_size=2.0),
            label="Error-Correcting Output Codes (logistic regression)",
            space={"code_size": Float(1.0, 4.0), "estimator__C": Float(1e-3, 1e2, log=True)},
        )
    ],
    "FixedThresholdClassifier": [
        Variant(
            "",
            lambda: FixedThresholdClassifier(_lr()),
            label="Logistic Regression with a fixed decision threshold",
            description="Logistic regression predicting the positive class when its "
            "probability exceeds a tunable threshold (binary targets).",
            space={"threshold": Float(0.3, 0.7), "estimator__C": Float(1e-3, 1e2, log=True)},
        )
    ],
    "TunedThresholdClassifierCV": [
        Variant(
            "",
            lambda: TunedThresholdClassifierCV(_lr(), scoring="balanced_accuracy"),
            label="Logistic Regression with a tuned threshold",
            description="Logistic regression whose decision threshold is chosen by "
            "internal cross-validation to maximise balanced accuracy (binary targets).",
            defaults={"cv": 3},
            space={"estimator__C": Float(1e-3, 1e2, log=True)},
        )
    ],
    "StackingClassifier": [
        Variant(
            "",
            lambda: StackingClassifier(
                [
                    ("lr", _lr()),
                    ("rf", RandomForestClassifier()),
                    ("knn", KNeighborsClassifier(n_neighbors=15)),
                ],
                final_estimator=_lr(),
            ),
            label="Stacking (logistic, random forest, kNN)",
            defaults={"cv": 3},
            space={
                "rf__n_estimators": Int(50, 300, log=True),
                "knn__n_neighbors": Int(5, 50, log=True),
                "final_estimator__C": Float(1e-2, 1e2, log=True),
            },
        ),
        Variant(
            "boosted",
            lambda: StackingClassifier(
                [
                    ("hgb", HistGradientBoostingClassifier()),
                    ("et", ExtraTreesClassifier()),
                    ("lr", _lr()),
                ],
                final_estimator=_lr(),
            ),
            label="Stacking (hist gradient boosting, extra trees, logistic)",
            defaults={"cv": 3},
            space={
                "hgb__learning_rate": Float(0.01, 0.3, log=True),
                "et__min_samples_leaf": Int(1, 50, log=True),
                "final_estimator__C": Float(1e-2, 1e2, log=True),
            },
        ),
    ],
    "VotingClassifier": [
        Variant(
            "",
            lambda: VotingClassifier(
                [("lr", _lr()), ("rf", RandomForestClassifier()), ("gnb", GaussianNB())],
                voting="soft",
            ),
            label="Soft Voting (logistic, random forest, naive Bayes)",
            space={
                "lr__C": Float(1e-3, 1e2, log=True),
                "rf__n_estimators": Int(50, 300, log=True),
            },
        ),
        Variant(
            "hard",
            lambda: VotingClassifier(
                [
                    ("lr", _lr()),
                    ("tree", DecisionTreeClassifier(max_depth=5)),
                    ("knn", KNeighborsClassifier(n_neighbors=15)),
                ],
                voting="hard",
            ),
            label="Majority Vote (logistic, decision tree, kNN)",
            space={
                "tree__max_depth": Int(2, 10),
                "knn__n_neighbors": Int(5, 50, log=True),
            },
        ),
    ],
    # ---- regressors --------------------------------------------------------------
    "SVR": [
        Variant("", SVR, label="SVR (RBF kernel)"),
        Variant(
            "linear",
            lambda: SVR(kernel="linear"),
            label="SVR (linear kernel)",
            space={"C": Float(1e-3, 1e2, log=True), "epsilon": Float(0.01, 0.5, log=True)},
        ),
        Variant(
            "poly",
            lambda: SVR(kernel="poly", degree=3, coef0=1.0),
            label="SVR (polynomial kernel)",
            space={
                "C": Float(1e-2, 1e2, log=True),
                "gamma": Float(1e-3, 0.3, log=True),
                "degree": Int(2, 3),
            },
        ),
    ],
    "KernelRidge": [
        Variant("", lambda: KernelRidge(kernel="rbf"), label="Kernel Ridge (RBF kernel)"),
        Variant(
            "laplacian",
            lambda: KernelRidge(kernel="laplacian"),
            label="Kernel Ridge (Laplacian kernel)",
        ),
        Variant(
            "poly",
            lambda: KernelRidge(kernel="poly", degree=2, coef0=1.0),
            label="Kernel Ridge (quadratic kernel)",
            space={"alpha": Float(1e-3, 10.0, log=True), "gamma": Float(1e-3, 0.3, log=True)},
        ),
    ],
    "SGDRegressor": [
        Variant("", SGDRegressor, label="SGD Regressor (squared loss)"),
        Variant(
            "huber",
            lambda: SGDRegressor(loss="huber"),
            label="SGD Regressor (Huber loss)",
            space={**ss.SGD, "epsilon": Float(0.05, 2.0, log=True)},
        ),
        Variant(
            "epsilon_insensitive",
            lambda: SGDRegressor(loss="epsilon_insensitive"),
            label="SGD Regressor (epsilon-insensitive: linear SVR)",
            space={**ss.SGD, "epsilon": Float(0.0, 0.5)},
        ),
        Variant(
            "passive_aggressive",
            lambda: SGDRegressor(
                loss="epsilon_insensitive", penalty=None, learning_rate="pa1", eta0=1.0
            ),
            label="Passive Aggressive Regressor",
            description="Online passive-aggressive (PA-I) regression; the replacement for "
            "the deprecated PassiveAggressiveRegressor.",
            space={"eta0": Float(1e-3, 10.0, log=True), "epsilon": Float(0.0, 0.5)},
            aliases=("passive aggressive",),
        ),
    ],
    "GaussianProcessRegressor": [
        Variant(
            "",
            lambda: _gpr(RBF(1.0)),
            label="Gaussian Process Regressor (RBF + noise)",
            defaults=_GPR_DEFAULTS,
            description="GP regression with a scaled RBF kernel plus a white-noise term; "
            "kernel hyperparameters fitted by marginal likelihood.",
        ),
        Variant(
            "matern",
            lambda: _gpr(Matern(length_scale=1.0, nu=1.5)),
            label="Gaussian Process Regressor (Matern 3/2 + noise)",
            defaults=_GPR_DEFAULTS,
        ),
    ],
    "DummyRegressor": [
        Variant("", DummyRegressor, label="Dummy Regressor (mean)"),
        Variant(
            "median",
            lambda: DummyRegressor(strategy="median"),
            label="Dummy Regressor (median)",
        ),
    ],
    "HistGradientBoostingRegressor": [
        Variant("", HistGradientBoostingRegressor),
        Variant(
            "absolute_error",
            lambda: HistGradientBoostingRegressor(loss="absolute_error"),
            label="Hist Gradient Boosting Regressor (absolute error)",
            description="Gradient boosting on the L1 loss: predicts conditional medians, "
            "robust to fat tails.",
        ),
    ],
    "MLPRegressor": [
        Variant(
            "",
            MLPRegressor,
            defaults={"max_iter": 300, "early_stopping": True, "n_iter_no_change": 10},
        )
    ],
    "HuberRegressor": [Variant("", HuberRegressor, defaults={"max_iter": 500})],
    "LinearSVC": [Variant("", LinearSVC, defaults={"max_iter": 5000})],
    "LinearSVR": [Variant("", LinearSVR, defaults={"max_iter": 20000})],
    "NuSVC": [
        Variant(
            "",
            NuSVC,
            defaults={"nu": 0.25},
            description="Nu-support vector classification (RBF kernel); nu = 0.25 (not "
            "0.5) stays feasible while the minority class is above 12.5% of the rows.",
        )
    ],
    # scikit-learn's alpha=1.0 zeroes every coefficient of a standardised target.
    "Lasso": [Variant("", Lasso, defaults={"alpha": 0.01})],
    "ElasticNet": [Variant("", ElasticNet, defaults={"alpha": 0.01})],
    "LassoLars": [Variant("", LassoLars, defaults={"alpha": 0.01})],
    "QuantileRegressor": [
        Variant(
            "",
            QuantileRegressor,
            defaults={"alpha": 0.0, "solver": "highs"},
            description="Median (0.5-quantile) linear regression; no L1 penalty by "
            "default so it is not shrunk to a constant.",
        )
    ],
    "BaggingRegressor": [
        Variant("", BaggingRegressor, label="Bagging Regressor (decision trees)"),
        Variant(
            "knn",
            lambda: BaggingRegressor(KNeighborsRegressor(n_neighbors=15), max_samples=0.5),
            label="Bagging Regressor (k-nearest neighbours)",
            space={**ss.BAGGING, "estimator__n_neighbors": Int(3, 50, log=True)},
        ),
        Variant(
            "svr",
            lambda: BaggingRegressor(SVR(), max_samples=0.5),
            label="Bagging Regressor (RBF SVRs on half-samples)",
            space={**ss.BAGGING, "estimator__C": Float(1e-2, 1e2, log=True)},
        ),
    ],
    "StackingRegressor": [
        Variant(
            "",
            lambda: StackingRegressor(
                [
                    ("ridge", Ridge()),
                    ("rf", RandomForestRegressor()),
                    ("knn", KNeighborsRegressor(n_neighbors=15)),
                ],
                final_estimator=RidgeCV(),
            ),
            label="Stacking (ridge, random forest, kNN)",
            defaults={"cv": 3},
            space={
                "ridge__alpha": Float(1e-2, 1e2, log=True),
                "rf__n_estimators": Int(50, 300, log=True),
                "knn__n_neighbors": Int(5, 50, log=True),
            },
        ),
        Variant(
            "boosted",
            lambda: StackingRegressor(
                [
                    ("hgb", HistGradientBoostingRegressor()),
                    ("et", ExtraTreesRegressor()),
                    ("ridge", Ridge()),
                ],
                final_estimator=RidgeCV(),
            ),
            label="Stacking (hist gradient boosting, extra trees, ridge)",
            defaults={"cv": 3},
            space={
                "hgb__learning_rate": Float(0.01, 0.3, log=True),
                "et__min_samples_leaf": Int(1, 50, log=True),
            },
        ),
    ],
    "VotingRegressor": [
        Variant(
            "",
            lambda: VotingRegressor(
                [
                    ("ridge", Ridge()),
                    ("rf", RandomForestRegressor()),
                    ("hgb", HistGradientBoostingRegressor()),
                ]
            ),
            label="Averaging (ridge, random forest, hist gradient boosting)",
            space={
                "ridge__alpha": Float(1e-2, 1e2, log=True),
                "rf__min_samples_leaf": Int(1, 50, log=True),
            },
        ),
        Variant(
            "local",
            lambda: VotingRegressor(
                [("knn", KNeighborsRegressor(n_neighbors=15)), ("svr", SVR()), ("ridge", Ridge())]
            ),
            label="Averaging (kNN, RBF SVR, ridge)",
            space={
                "knn__n_neighbors": Int(5, 50, log=True),
                "svr__C": Float(1e-2, 1e2, log=True),
            },
        ),
    ],
    "TransformedTargetRegressor": [
        Variant(
            "",
            lambda: TransformedTargetRegressor(
                regressor=Ridge(),
                transformer=QuantileTransformer(n_quantiles=100, output_distribution="normal"),
            ),
            label="Ridge on a rank-Gaussian target",
            description="Ridge regression fitted to the target mapped through its "
            "empirical quantiles to a normal distribution (tames fat tails); predictions "
            "are mapped back.",
            space={"regressor__alpha": Float(1e-3, 1e3, log=True)},
        ),
        Variant(
            "hgb",
            lambda: TransformedTargetRegressor(
                regressor=HistGradientBoostingRegressor(),
                transformer=QuantileTransformer(n_quantiles=100, output_distribution="normal"),
            ),
            label="Hist Gradient Boosting on a rank-Gaussian target",
            space=ss.prefixed(ss.HIST_GRADIENT_BOOSTING, "regressor__"),
        ),
    ],
    "Ridge": [
        Variant("", Ridge),
        Variant(
            "nystroem",
            lambda: _pipe(("nystroem", Nystroem(n_components=100)), ("model", Ridge())),
            label="Approximate Kernel Ridge (Nystroem RBF)",
            description="Ridge regression on a 100-component Nystroem approximation of the "
            "RBF kernel map (scales to many rows, unlike exact kernel ridge).",
            family="kernel",
            space={
                "nystroem__gamma": Float(1e-3, 1.0, log=True),
                "nystroem__n_components": Cat(50, 100, 200),
                **_ALPHA_MODEL,
            },
        ),
        Variant(
            "poly2",
            lambda: _pipe(
                ("poly", PolynomialFeatures(2, include_bias=False)),
                ("scale", StandardScaler()),
                ("model", Ridge()),
            ),
            label="Polynomial Ridge Regression (degree 2)",
            description="Ridge regression on all pairwise products and squares.",
            space=_ALPHA_MODEL,
        ),
        Variant(
            "splines",
            lambda: _pipe(("splines", SplineTransformer(n_knots=5)), ("model", Ridge())),
            label="Additive Spline Regression (GAM-like)",
            description="Ridge regression on cubic B-spline expansions of each feature: a "
            "smooth additive model.",
            space={"splines__n_knots": Int(3, 8), **_ALPHA_MODEL},
            aliases=("gam", "spline regression"),
        ),
        Variant(
            "trees_embedding",
            lambda: _pipe(
                ("embed", RandomTreesEmbedding(n_estimators=50, max_depth=4)),
                ("model", Ridge()),
            ),
            label="Random Trees Embedding + Ridge",
            description="Ridge regression on the one-hot leaf indices of 50 totally random trees.",
            family="tree",
            space={
                "embed__n_estimators": Int(10, 100, log=True),
                "embed__max_depth": Int(2, 6),
                **_ALPHA_MODEL,
            },
        ),
    ],
    "LinearRegression": [
        Variant("", LinearRegression),
        Variant(
            "pca",
            lambda: _pipe(("pca", PCA(n_components=0.95)), ("model", LinearRegression())),
            label="Principal Component Regression",
            description="Least squares on the principal components explaining 95% of the variance.",
            space={"pca__n_components": Float(0.5, 0.99)},
            aliases=("pcr",),
        ),
        Variant(
            "rfe",
            lambda: RFE(LinearRegression(), n_features_to_select=0.5),
            label="Linear Regression with Recursive Feature Elimination",
            description="Recursively drops the weakest features (by |coefficient|) down to "
            "half of them, then fits least squares on the rest.",
            family="meta",
            space={"n_features_to_select": Float(0.2, 1.0)},
        ),
    ],
    "KNeighborsRegressor": [
        Variant("", KNeighborsRegressor, label="k-Nearest Neighbors Regressor"),
        Variant(
            "select_from_model",
            lambda: _pipe(
                (
                    "select",
                    SelectFromModel(ExtraTreesRegressor(n_estimators=100), threshold="median"),
                ),
                ("model", KNeighborsRegressor(n_neighbors=15)),
            ),
            label="k-Nearest Neighbors on tree-selected features",
            description="Keeps the features above median extra-trees importance, then "
            "averages the 15 nearest neighbours.",
            space={
                "select__threshold": Cat("median", "mean", "0.5*mean"),
                "model__n_neighbors": Int(3, 50, log=True),
            },
        ),
    ],
}


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _spec(cls: type, task: str, variant: Variant, estimator: Any) -> ModelSpec:
    name = cls.__name__
    flags = derive_flags(estimator)
    flags.update(variant.overrides)
    model_id = f"sklearn.{name}" + (f".{variant.suffix}" if variant.suffix else "")
    space = variant.space if variant.space is not None else SPACES.get(name, {})
    aliases = variant.aliases + (ALIASES.get(name, ()) if not variant.suffix else ())
    return ModelSpec(
        id=model_id,
        name=variant.label or DISPLAY.get(name) or display_name(name),
        task=task,
        family=variant.family or family_of(cls),
        library="sklearn",
        estimator=name,
        factory=variant.make,
        defaults=variant.defaults,
        search_space=space,
        description=variant.description or _summary(cls),
        aliases=aliases,
        needs_target_scaling=task == "regression" and flags["needs_scaling"],
        **flags,
    )


def sklearn_specs() -> tuple[list[ModelSpec], dict[str, str]]:
    """All scikit-learn catalogue entries, and the excluded classes with reasons."""
    specs: list[ModelSpec] = []
    excluded: dict[str, str] = {}
    for task, kind in (("classification", "classifier"), ("regression", "regressor")):
        for name, cls in all_estimators(type_filter=kind):
            if name in EXCLUDED_CLASSES:
                excluded[f"sklearn.{name}"] = EXCLUDED_CLASSES[name]
                continue
            variants = CONFIGURED.get(name) or [Variant("", cls)]
            for variant in variants:
                try:
                    estimator = variant.make()
                    if variant.defaults:
                        estimator.set_params(**variant.defaults)
                except TypeError as error:  # a new meta-estimator needing arguments
                    excluded[f"sklearn.{name}"] = (
                        f"needs constructor arguments ({error}); no base estimator "
                        "configured in the catalogue"
                    )
                    continue
                specs.append(_spec(cls, task, variant, estimator))
    return specs, excluded
